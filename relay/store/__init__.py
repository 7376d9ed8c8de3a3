"""The relay's state in SQL (SQLite or PostgreSQL): events seen, the delivery outbox, the message map,
background jobs, the Manual Judgments made from Slack, the Slack requests taken (against replays), how
many commands each person sent this minute, and who opened the App Home.

Every SQL statement the relay runs lives in this package, one module per table family; `Store` is all of
them on one engine. Deliveries and jobs are leased so any number of workers can share the outbox: taking a
lease is a row update, and an expired lease makes the row available again. A judgment's claim on its stage
is a unique column, so only one click per stage ever reaches Gate.
"""

from __future__ import annotations

from relay.store.events import EventQueries
from relay.store.home import HomeQueries
from relay.store.jobs import JobQueries
from relay.store.judgments import JudgmentQueries
from relay.store.messages import MessageMap
from relay.store.outbox import OutboxQueries
from relay.store.records import (
    CLAIMED,
    DECIDED,
    DRY_RUN,
    DUPLICATE,
    FAILED,
    GATE_FAILED,
    IN_FLIGHT,
    LOST,
    PATCHED,
    PATCHING,
    PENDING,
    RECEIVED,
    REFUSED,
    RESET,
    SENDING,
    SENT,
    STALE,
    SUPERSEDED,
    TIMER_JOB,
    UNCONFIRMED,
    UNFINISHED,
    Delivery,
    DeliveryDraft,
    DuplicateEvent,
    Job,
    Judgment,
    LastSuccess,
    MessageRef,
    QueueStats,
    Timer,
    Wait,
)
from relay.store.reports import JudgmentFilter, ReportQueries
from relay.store.requests import RequestQueries
from relay.store.tables import deliveries, events, jobs, judgments, metadata
from relay.store.timers import TimerQueries

__all__ = [
    "CLAIMED", "DECIDED", "DRY_RUN", "DUPLICATE", "FAILED", "GATE_FAILED", "IN_FLIGHT", "LOST", "PATCHED",
    "PATCHING", "PENDING", "RECEIVED", "REFUSED", "RESET", "SENDING", "SENT", "STALE", "SUPERSEDED",
    "TIMER_JOB", "UNCONFIRMED", "UNFINISHED", "Delivery", "DeliveryDraft", "DuplicateEvent", "Job",
    "Judgment", "JudgmentFilter", "LastSuccess", "MessageRef", "QueueStats", "Store", "Timer", "Wait",
    "deliveries", "events", "jobs", "judgments", "metadata",
]


class Store(EventQueries, OutboxQueries, JobQueries, MessageMap, JudgmentQueries, TimerQueries,
            RequestQueries, HomeQueries, ReportQueries):
    """SQLAlchemy Core access to every table of the relay, on one engine."""

"""What the store hands out and takes in: plain records, and the status words of each table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

# A delivery's life: pending -> sending -> sent | failed | dry_run | superseded (an older state left out).
PENDING, SENDING, SENT, FAILED, DRY_RUN, SUPERSEDED = (
    "pending", "sending", "sent", "failed", "dry_run", "superseded")
UNFINISHED = (PENDING, SENDING)
TIMER_JOB = "judgment.timer"  # the job that wakes a judgment timer (relay/judgments/timers.py)


@dataclass(frozen=True)
class DeliveryDraft:
    """A delivery planned at ingest, before it has an id."""

    thread_key: str
    channel: str
    action: str  # "upsert" the run's parent message, "reply" in its thread, "post" on its own,
    # "ephemeral": a note only payload["user"] sees, or "home": the Home tab (a view) of the user `channel`
    template: str
    payload: dict[str, Any]
    message_key: str | None = None
    parent_key: str | None = None
    rank: int = 0
    # How the dispatcher renders the message from its event's facts at send time; None: `payload` is it.
    recipe: dict[str, Any] | None = None
    # Queued only if the run has no parent message yet in this channel, posted or queued (a run summary).
    opens_thread: bool = False


@dataclass(frozen=True)
class Delivery:
    """A leased outbox row."""

    id: int
    event_id: str | None
    thread_key: str
    channel: str
    action: str
    template: str
    payload: dict[str, Any]
    message_key: str | None
    parent_key: str | None
    rank: int
    attempts: int
    created_at: float
    due_at: float = 0.0  # when it became due: its scheduled time, or when the last worker's lease ran out
    recipe: dict[str, Any] | None = None  # see DeliveryDraft: rendered into `payload` before it is sent


@dataclass(frozen=True)
class MessageRef:
    """Where a message lives in Slack."""

    channel: str
    ts: str
    rank: int = 0


@dataclass(frozen=True)
class QueueStats:
    """The outbox's backlog: unfinished deliveries by status, and the oldest one's creation time."""

    depth: dict[str, int]
    oldest_created_at: float | None


@dataclass(frozen=True)
class Job:
    """A leased background job (Gate calls and message updates that must not block a Slack ack)."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int  # runs before this one that failed (or whose worker died)
    due_at: float = 0.0  # when it became due: its scheduled time, or when the last worker's lease ran out
    created_at: float = 0.0  # when it was queued


# A judgment's life: received -> refused | lost | duplicate | stale | claimed -> patching -> patched ->
# decided | unconfirmed | reset | failed. Claimed, patching, patched, decided and unconfirmed hold the claim.
RECEIVED, REFUSED, LOST, DUPLICATE, STALE = "received", "refused", "lost", "duplicate", "stale"
CLAIMED, PATCHING, PATCHED, DECIDED, UNCONFIRMED = "claimed", "patching", "patched", "decided", "unconfirmed"
RESET, GATE_FAILED = "reset", "failed"
IN_FLIGHT = (CLAIMED, PATCHING, PATCHED)


@dataclass(frozen=True)
class Judgment:
    """A click on a Manual Judgment message and what became of it (the audit record)."""

    id: int
    execution_id: str
    stage_id: str
    address: str
    application: str | None
    decision: str
    input_index: int | None
    judgment_input: str | None
    reason: str | None
    user_id: str
    user_email: str | None
    channel_id: str | None
    message_ts: str | None
    thread_ts: str | None
    status: str
    detail: str | None
    claim: str | None
    gate_status: int | None
    gate_user: str | None
    stage_status: str | None
    snapshot: str | None  # the execution, trimmed to the judged stage, as last read before claiming
    received_at: float
    claimed_at: float | None
    patched_at: float | None
    finished_at: float | None


@dataclass(frozen=True)
class LastSuccess:
    """A pipeline's latest successful run as Gate reported it at `checked_at` (`execution_id` None: none)."""

    execution_id: str | None
    start_time: float | None
    version: dict[str, Any] | None
    checked_at: float


@dataclass(frozen=True)
class Timer:
    """A waiting Manual Judgment's clock: its deadline, the reminders and escalation it plans and has sent,
    and how the wait ended. `version` moves on with every change, so two workers never both act on one
    state."""

    key: str
    execution_id: str
    stage_id: str
    application: str | None
    started_at: float
    deadline: float
    plan: dict[str, Any]  # {"every": {address: seconds}, "escalate_after": seconds, "escalate_to": [...]}
    reminded: dict[str, int]  # address -> reminders sent
    escalated: bool
    dms_pending: bool
    next_at: float | None
    outcome: str | None
    judge: str | None
    ended_at: float | None
    version: int
    pipeline: str | None = None
    stage_name: str | None = None


class Wait(NamedTuple):
    """A judgment's ended wait: its application, who decided (None: nobody, it expired), how it ended, how
    many seconds it lasted, and when it ended."""

    application: str | None
    judge: str | None
    outcome: str | None
    seconds: float
    ended_at: float


class DuplicateEvent(Exception):
    """The event id was accepted before."""

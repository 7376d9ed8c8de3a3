"""What the console lists: waiting judgments with their Slack messages, the judgments audit trail by filter
and page, and deliveries that failed or are stuck. Pages are read newest first by id (keyset paging), so
a page costs the same however deep it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all

from relay.store.database import Database
from relay.store.queues import like_prefix
from relay.store.records import DECIDED, FAILED, PENDING, SENDING, MessageRef
from relay.store.tables import deliveries, judgment_timers, judgments, messages

APPROVED, REJECTED = "approved", "rejected"
# A decided judgment is named by its decision; any other status by itself.
DECISION_OUTCOMES = {APPROVED: "continue", REJECTED: "stop"}
DELIVERY_COLUMNS = tuple(deliveries.c[name] for name in (
    "id", "event_id", "channel", "action", "template", "status", "attempts", "last_error", "created_at",
    "next_attempt_at", "lease_until"))
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class JudgmentFilter:
    """Which judgments to list: each field narrows the list when set; `since` and `until` bound the time the
    click was received (epoch seconds, `until` excluded)."""

    application: str | None = None
    pipeline: str | None = None
    approver: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None


class ReportQueries(Database):
    """The console's listings."""

    def waiting_count(self) -> int:
        with self._reading() as conn:
            return conn.execute(select(func.count()).where(judgment_timers.c.ended_at.is_(None))).scalar()

    def waiting_judgments(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Judgments still waiting (their timer has not ended), longest waiting first."""
        timer = judgment_timers
        query = (select(timer.c.key, timer.c.execution_id, timer.c.stage_id, timer.c.application,
                        timer.c.pipeline, timer.c.stage_name, timer.c.started_at, timer.c.deadline,
                        timer.c.escalated)
                 # ended_at is set with the outcome, and unlike the outcome it is indexed.
                 .where(timer.c.ended_at.is_(None))
                 .order_by(timer.c.started_at, timer.c.key).limit(limit))
        with self._reading() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def judgment_messages(self, keys: list[str]) -> dict[str, dict[str, MessageRef]]:
        """The Slack messages posted for each judgment (by timer key): address -> where the message is."""
        if not keys:
            return {}
        # One indexed prefix scan per judgment (an OR of LIKEs would read the whole table).
        query = union_all(*(select(messages.c.key, messages.c.channel, messages.c.ts).where(
            messages.c.key.like(like_prefix(f"{key}@"), escape="\\")) for key in keys))
        found: dict[str, dict[str, MessageRef]] = {key: {} for key in keys}
        with self._reading() as conn:
            for row in conn.execute(query):
                key, _, address = row.key.partition("@")
                if key in found:
                    found[key][address] = MessageRef(channel=row.channel, ts=row.ts)
        return found

    def judgments_page(self, where: JudgmentFilter, *, before: int | None = None,
                       limit: int = 50) -> list[dict[str, Any]]:
        """The newest judgments matching `where` with an id below `before`, with their pipeline and stage."""
        query = _judgments_query(where)
        if before is not None:
            query = query.where(judgments.c.id < before)
        with self._reading() as conn:
            return [dict(row) for row in conn.execute(query.limit(limit)).mappings()]

    def iter_judgments(self, where: JudgmentFilter) -> Iterator[dict[str, Any]]:
        """Every judgment matching `where`, newest first, read a page at a time (for an export)."""
        before = None
        while True:
            page = self.judgments_page(where, before=before, limit=EXPORT_CHUNK)
            yield from page
            if len(page) < EXPORT_CHUNK:
                return
            before = page[-1]["id"]

    def failed_deliveries(self, *, before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Deliveries that failed for good, newest first."""
        query = select(*DELIVERY_COLUMNS).where(deliveries.c.status == FAILED)
        if before is not None:
            query = query.where(deliveries.c.id < before)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit)).mappings()
            return [dict(row) for row in rows]

    def stuck_deliveries(self, *, now: float, after: float, limit: int = 50) -> list[dict[str, Any]]:
        """Deliveries due for more than `after` seconds that no worker has finished: pending and not taken,
        or taken by a worker whose lease ran out; oldest first."""
        query = select(*DELIVERY_COLUMNS).where(or_(
            and_(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now - after),
            and_(deliveries.c.status == SENDING, deliveries.c.lease_until <= now - after)))
        with self._reading() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(limit)).mappings()
            return [dict(row) for row in rows]


def _judgments_query(where: JudgmentFilter) -> Any:
    timer = judgment_timers
    joined = judgments.outerjoin(timer, and_(timer.c.execution_id == judgments.c.execution_id,
                                             timer.c.stage_id == judgments.c.stage_id))
    columns = [judgments.c[name] for name in (
        "id", "execution_id", "stage_id", "application", "decision", "judgment_input", "reason", "user_id",
        "user_email", "channel_id", "message_ts", "status", "detail", "gate_status", "received_at",
        "finished_at")]
    query = (select(*columns, timer.c.pipeline, timer.c.stage_name, timer.c.started_at.label("waiting_since"))
             .select_from(joined).order_by(judgments.c.id.desc()))
    if where.application:
        query = query.where(judgments.c.application == where.application)
    if where.pipeline:
        query = query.where(timer.c.pipeline == where.pipeline)
    if where.approver:
        column = judgments.c.user_email if "@" in where.approver else judgments.c.user_id
        query = query.where(column == where.approver)
    if where.outcome in DECISION_OUTCOMES:
        query = query.where(judgments.c.status == DECIDED,
                            judgments.c.decision == DECISION_OUTCOMES[where.outcome])
    elif where.outcome:
        query = query.where(judgments.c.status == where.outcome)
    if where.since is not None:
        query = query.where(judgments.c.received_at >= where.since)
    if where.until is not None:
        query = query.where(judgments.c.received_at < where.until)
    return query

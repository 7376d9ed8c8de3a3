"""The delivery outbox: deliveries queued with what planned them, leased in channel and thread
order at Slack's pace, retried, and listed for operators."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.engine import Connection

from relay.store.database import Database
from relay.store.drafts import draft_row, insert_channels, insert_opening, insert_rows
from relay.store.queues import due_at, lease_values, like_prefix
from relay.store.records import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    SUPERSEDED,
    UNFINISHED,
    Delivery,
    DeliveryDraft,
    QueueStats,
)
from relay.store.tables import channels, deliveries, jobs, messages

# Deliveries that replace what Slack shows (a run's message, a person's Home tab): a newer one of the same
# message or tab makes an older one still queued pointless.
REWRITES = ("upsert", "home")
CANDIDATES_PER_CHANNEL = 4  # a channel takes one delivery a lease; the rest are looked at for rewrites


class OutboxQueries(Database):
    """The delivery outbox."""

    def thread_started(self, thread_key: str) -> bool:
        """Whether a parent message exists or is queued for this run and channel."""
        mapped = select(messages.c.key).where(messages.c.key == thread_key).exists()
        queued = select(deliveries.c.id).where(
            deliveries.c.thread_key == thread_key, deliveries.c.action == "upsert").exists()
        with self._reading() as conn:
            return bool(conn.execute(select(or_(mapped, queued))).scalar())

    def queue_deliveries(self, drafts: list[DeliveryDraft], *, now: float) -> None:
        """Queue deliveries that answer no event (a note to someone who clicked, a job's message updates)."""
        with self.transaction() as conn:
            self._insert_drafts(conn, drafts, event_id=None, now=now)

    def _insert_drafts(self, conn: Connection, drafts: list[DeliveryDraft], *, event_id: str | None,
                       now: float) -> None:
        self._insert_queued(conn, [(draft, event_id, now) for draft in drafts])

    def _insert_queued(self, conn: Connection, queued: list[tuple[DeliveryDraft, str | None, float]]) -> None:
        """Insert each draft (with the id of the event it answers and when it was queued) in their order,
        the plain ones many rows to a statement. The channels are added if new, without looking them up."""
        if not queued:
            return
        insert_channels(conn, {draft.channel for draft, _, _ in queued})
        rows: list[dict[str, Any]] = []
        for draft, event_id, now in queued:
            if not draft.opens_thread:
                rows.append(draft_row(draft, event_id, now))
                continue
            insert_rows(conn, rows)
            rows = []
            insert_opening(conn, {"recipe": None, **draft_row(draft, event_id, now)})
        insert_rows(conn, rows)

    def queued_message_keys(self, prefix: str, template: str) -> set[str]:
        """Keys starting with `prefix` of unfinished deliveries of one template (messages not posted yet)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.message_key).where(
                deliveries.c.message_key.like(like_prefix(prefix), escape="\\"),
                deliveries.c.template == template, deliveries.c.status.in_(UNFINISHED)))
            return {row.message_key for row in rows}

    def lease_deliveries(self, *, worker: str, now: float, lease: float, interval: float,
              limit: int = 20) -> list[Delivery]:
        """Claim due deliveries: the oldest unfinished one per run thread, at most one per channel per
        `interval` seconds (a compare-and-set on the channel's next slot, so pacing holds across workers).

        A delivery whose lease ran out (its worker died mid-send) is due again, and that try counts as an
        attempt. Channel slots are taken in channel order, so two workers leasing at once never wait on
        each other's slots in opposite orders (a deadlock on PostgreSQL)."""
        if self.is_postgres:
            with self.engine.begin() as conn:
                candidates = self._candidate_rows(conn, now=now, limit=limit)
                return self._lease(conn, *self._plan(conn, candidates, limit), worker=worker, now=now,
                                   lease=lease, interval=interval)
        # SQLite has one writer at a time: the candidates (and the rewrites a newer one supersedes) are read
        # before the write turn is taken, so that the search, and every poll finding nothing, never holds the
        # webhook up; each change is then a compare-and-set on the row as it was read.
        with self._reading() as conn:
            by_channel, superseded = self._plan(conn, self._candidate_rows(conn, now=now, limit=limit), limit)
        if not by_channel and not superseded:
            return []
        with self.engine.begin() as conn:
            return self._lease(conn, by_channel, superseded, worker=worker, now=now, lease=lease,
                               interval=interval)

    def _candidate_rows(self, conn: Connection, *, now: float, limit: int) -> list[Any]:
        """The rows that may be leased now: in each ready channel (see _ready_channels), the oldest few due
        ones that wait for nothing earlier in their thread (enough to skip the rewrites a newer one
        supersedes), and those whose lease ran out; locked on PostgreSQL, skipping rows another worker holds.

        One statement per channel, each walking its channel's rows in id order (ix_deliveries_channel_id) and
        stopping at the first few, so that neither a long backlog nor a query planner's stale statistics
        make a poll look at every row."""
        ready = conn.execute(_ready_channels(now, limit)).all()
        queries = [_oldest_due(channel, now) for channel, _ in ready]
        expired = [channel for channel, lease_expired in ready if lease_expired]
        if expired:
            queries.append(select(deliveries).where(deliveries.c.channel.in_(expired), *_lease_expired(now),
                                                    ~_waits_for_earlier()))
        rows: list[Any] = []
        for query in queries:
            if self.is_postgres:
                query = query.with_for_update(skip_locked=True)
            rows += conn.execute(query).mappings().all()
        return sorted(rows, key=lambda row: row["id"])

    def _plan(self, conn: Connection, candidates: list[Any],
              limit: int) -> tuple[dict[str, list[Any]], list[Any]]:
        """The candidates of the `limit` channels with the oldest ones, each channel's list starting at its
        first row that no newer rewrite supersedes; and the superseded rows skipped."""
        by_channel: dict[str, list[Any]] = {}
        for row in candidates:
            by_channel.setdefault(row["channel"], []).append(row)
        chosen: dict[str, list[Any]] = {}
        superseded: list[Any] = []
        for channel in sorted(by_channel, key=lambda c: by_channel[c][0]["id"])[:limit]:
            rows = by_channel[channel]
            skipped = 0
            while skipped < len(rows) and rows[skipped]["action"] in REWRITES \
                    and self._superseded(conn, rows[skipped]):
                skipped += 1
            superseded += rows[:skipped]
            if skipped < len(rows):
                chosen[channel] = rows[skipped:]
        return chosen, superseded

    def _lease(self, conn: Connection, by_channel: dict[str, list[Any]], superseded: list[Any], *,
               worker: str, now: float, lease: float, interval: float) -> list[Delivery]:
        """Mark the superseded rows, then lease one row per channel, the channels taken in channel order (so
        two workers leasing at once never wait on each other's slots in opposite orders)."""
        if superseded:
            conn.execute(update(deliveries).where(or_(*(_as_read(row) for row in superseded)))
                         .values(status=SUPERSEDED, sent_at=now, lease_until=None))
        leased = [self._lease_in_channel(conn, by_channel[channel], worker=worker, now=now, lease=lease,
                                         interval=interval) for channel in sorted(by_channel)]
        return sorted((delivery for delivery in leased if delivery is not None), key=lambda d: d.id)

    def _lease_in_channel(self, conn: Connection, rows: list[Any], *, worker: str, now: float, lease: float,
                          interval: float) -> Delivery | None:
        """Take the channel's next slot for its oldest available row."""
        row = rows[0]
        if self._channel_busy(conn, row, now=now):
            return None
        slot = conn.execute(update(channels).where(
            channels.c.channel == row["channel"], channels.c.next_allowed_at <= now)
            .values(next_allowed_at=now + interval))
        if slot.rowcount != 1:
            return None
        values = lease_values(row, worker=worker, now=now, lease=lease)
        if conn.execute(update(deliveries).where(_as_read(row)).values(**values)).rowcount != 1:
            return None  # another worker took it since it was read
        return _delivery(row, attempts=values["attempts"])

    def _channel_busy(self, conn: Connection, row: Any, *, now: float) -> bool:
        """Whether the row must wait: another delivery of its channel is in flight (one at a time per channel
        keeps its order), or an older one of the channel has become available since the candidates were
        read (its run's earlier delivery finished meanwhile). The channel's row is locked first, so the look
        sees what any worker committed before."""
        lock = select(channels.c.channel).where(channels.c.channel == row["channel"])
        conn.execute(lock.with_for_update() if self.is_postgres else lock)
        in_flight = select(deliveries.c.id).where(
            deliveries.c.channel == row["channel"], deliveries.c.id != row["id"],
            deliveries.c.status == SENDING, deliveries.c.lease_until >= now)
        older = select(deliveries.c.id).where(
            deliveries.c.channel == row["channel"], deliveries.c.id < row["id"],
            deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now, ~_waits_for_earlier())
        return conn.execute(in_flight.union_all(older).limit(1)).first() is not None

    def _superseded(self, conn: Connection, row: Any) -> bool:
        """A rewrite (an upsert, a Home tab) whose very next delivery in the thread is a newer one of the same
        message or tab, of a state at least as late (an older event arriving late supersedes nothing)."""
        columns = (deliveries.c.action, deliveries.c.message_key, deliveries.c.rank)
        following = conn.execute(select(*columns).where(
            deliveries.c.thread_key == row["thread_key"], deliveries.c.id > row["id"],
            deliveries.c.status == PENDING).order_by(deliveries.c.id).limit(1)).first()
        return (following is not None and following.action == row["action"]
                and following.message_key == row["message_key"] and following.rank >= row["rank"])

    def mark_sent(self, delivery_id: int, *, worker: str, now: float, ts: str | None,
                  status: str = SENT, note: str | None = None, payload: dict[str, Any] | None = None) -> bool:
        """Finish a delivery if this worker still holds its lease (keeping `payload`, the message rendered
        at send time, when given); False if the lease was lost."""
        values: dict[str, Any] = {"status": status, "sent_at": now, "ts": ts, "lease_until": None,
                                  "last_error": note}
        if payload is not None:
            values["payload"] = json.dumps(payload)
        with self.engine.begin() as conn:
            result = conn.execute(update(deliveries).where(
                deliveries.c.id == delivery_id, deliveries.c.status == SENDING,
                deliveries.c.leased_by == worker).values(**values))
        return result.rowcount == 1

    def reschedule(self, delivery_id: int, *, worker: str, at: float, error: str,
                   count_attempt: bool = True) -> None:
        """Put a delivery back in the queue for a later attempt."""
        values: dict[str, Any] = {"status": PENDING, "next_attempt_at": at, "lease_until": None,
                                  "leased_by": None, "last_error": error}
        if count_attempt:
            values["attempts"] = deliveries.c.attempts + 1
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id,
                                                  deliveries.c.leased_by == worker)
                         .values(**values))

    def mark_failed(self, delivery_id: int, *, worker: str, now: float, error: str) -> None:
        """Give up on a delivery, keeping the reason."""
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id,
                                                  deliveries.c.leased_by == worker)
                         .values(status=FAILED, sent_at=now, lease_until=None, last_error=error,
                                 attempts=deliveries.c.attempts + 1))

    def release(self, worker: str) -> int:
        """Hand back every delivery and job this worker holds (graceful shutdown)."""
        released = 0
        with self.engine.begin() as conn:
            for table in (deliveries, jobs):
                released += conn.execute(update(table).where(table.c.status == SENDING,
                                                              table.c.leased_by == worker)
                                         .values(status=PENDING, lease_until=None, leased_by=None)).rowcount
        return released

    def renew_leases(self, worker: str, *, until: float) -> int:
        """Extend every lease this worker holds (deliveries and jobs in flight) to `until`, so a slow call
        is not taken over by another worker; returns how many were renewed."""
        renewed = 0
        with self.engine.begin() as conn:
            for table in (deliveries, jobs):
                renewed += conn.execute(update(table).where(table.c.status == SENDING,
                                                             table.c.leased_by == worker)
                                        .values(lease_until=until)).rowcount
        return renewed

    def due_since(self, now: float) -> dict[str, float | None]:
        """Per lane ("delivery", "job"), since when the oldest work that a free thread could start now has
        been due (None when there is none): a pending job, or a pending delivery whose channel is free and
        whose run waits for nothing earlier."""
        delivery = select(func.min(_first_due(by=now))).where(channels.c.next_allowed_at <= now)
        job = select(func.min(jobs.c.next_attempt_at)).where(jobs.c.status == PENDING,
                                                             jobs.c.next_attempt_at <= now)
        with self._reading() as conn:
            return {"delivery": conn.execute(delivery).scalar(), "job": conn.execute(job).scalar()}

    def channels(self) -> list[str]:
        """Every Slack address the relay has queued messages for."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(channels.c.channel).order_by(channels.c.channel)).scalars())

    def hold_channel(self, channel: str, until: float) -> None:
        """Slack asked us to wait (429): no worker posts to this channel before `until`."""
        with self.engine.begin() as conn:
            conn.execute(update(channels).where(channels.c.channel == channel,
                                                channels.c.next_allowed_at < until)
                         .values(next_allowed_at=until))

    def next_due(self) -> float | None:
        """When a delivery may next be leased, for the dispatcher's idle wait: a pending one not waiting for
        an earlier one of its run, at its own time or its channel's next slot, whichever is later; or a
        delivery whose lease runs out."""
        per_channel = select(channels.c.next_allowed_at.label("slot"), _first_due().label("due")).subquery()
        slot = case((per_channel.c.slot > per_channel.c.due, per_channel.c.slot), else_=per_channel.c.due)
        waiting = select(func.min(slot))
        with self._reading() as conn:
            pending = conn.execute(waiting).scalar()
            leased = conn.execute(select(func.min(deliveries.c.lease_until))
                                  .where(deliveries.c.status == SENDING)).scalar()
        times = [t for t in (pending, leased) if t is not None]
        return min(times) if times else None

    def list_deliveries(self, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(deliveries.c.id, deliveries.c.event_id, deliveries.c.channel, deliveries.c.action,
                       deliveries.c.template, deliveries.c.status, deliveries.c.attempts,
                       deliveries.c.last_error, deliveries.c.created_at, deliveries.c.sent_at,
                       deliveries.c.ts)
        if status:
            query = query.where(deliveries.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r)
                    for r in conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit)).mappings()]

    def retry_delivery(self, delivery_id: int, *, now: float) -> bool:
        """Queue a failed delivery again, with a fresh attempt count."""
        with self.engine.begin() as conn:
            result = conn.execute(update(deliveries).where(
                deliveries.c.id == delivery_id, deliveries.c.status == FAILED).values(
                status=PENDING, attempts=0, next_attempt_at=now, last_error=None, leased_by=None))
        return result.rowcount == 1

    def queue_stats(self) -> QueueStats:
        """Deliveries still to send, by status, and when the oldest of them was queued."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.status, func.count(), func.min(deliveries.c.created_at))
                                .where(deliveries.c.status.in_(UNFINISHED)).group_by(deliveries.c.status)).all()
        depth = {status: 0 for status in UNFINISHED} | {status: count for status, count, _ in rows}
        oldest = min((created for _, _, created in rows), default=None)
        return QueueStats(depth=depth, oldest_created_at=oldest)

    def counts_by_status(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
            return {status: count for status, count in rows}


def _as_read(row: Any) -> Any:
    """The delivery `row` was read from, if no worker has leased, finished or put it back since."""
    return and_(deliveries.c.id == row["id"], deliveries.c.status == row["status"],
                deliveries.c.attempts == row["attempts"],
                deliveries.c.lease_until.is_not_distinct_from(row["lease_until"]),
                deliveries.c.next_attempt_at.is_not_distinct_from(row["next_attempt_at"]))


def _ready_channels(now: float, limit: int) -> Any:
    """Up to `limit` channels free to post in now with a delivery due (or one whose lease ran out) that waits
    for nothing earlier in its thread, those free the longest first, each with whether a lease ran out.
    Each channel is looked at on its own, down an index from its earliest due delivery, so a poll stays
    cheap however long a backlog grows."""
    lease_expired = (select(deliveries.c.id).where(deliveries.c.channel == channels.c.channel,
                                                   *_lease_expired(now), ~_waits_for_earlier())
                     .limit(1).scalar_subquery().is_not(None))
    due = or_(_first_due(by=now).is_not(None), lease_expired)
    return (select(channels.c.channel, lease_expired).where(channels.c.next_allowed_at <= now, due)
            .order_by(channels.c.next_allowed_at, channels.c.channel).limit(limit))


def _oldest_due(channel: str, now: float) -> Any:
    """The channel's oldest pending deliveries due now that wait for nothing earlier in their thread. The
    schedule is compared as an expression, which no index answers, so that the databases walk the channel's
    rows in id order and stop at the first few rather than sort every due row of a backlog by id."""
    return (select(deliveries).where(deliveries.c.channel == channel, deliveries.c.status == PENDING,
                                     deliveries.c.next_attempt_at + 0 <= now, ~_waits_for_earlier())
            .order_by(deliveries.c.id).limit(CANDIDATES_PER_CHANNEL))


def _lease_expired(now: float) -> tuple[Any, ...]:
    return deliveries.c.status == SENDING, deliveries.c.lease_until < now


def _first_due(*, by: float | None = None) -> Any:
    """Per channel (correlated), when its earliest pending delivery that waits for nothing earlier in its
    thread is due (only those due `by` then, when given): found from the index in schedule order, and a
    scalar subquery, which PostgreSQL runs per channel rather than over every channel's backlog at once."""
    conditions = [deliveries.c.channel == channels.c.channel, deliveries.c.status == PENDING,
                  ~_waits_for_earlier()]
    if by is not None:
        conditions.append(deliveries.c.next_attempt_at <= by)
    return (select(deliveries.c.next_attempt_at).where(*conditions)
            .order_by(deliveries.c.next_attempt_at).limit(1).scalar_subquery())


def _waits_for_earlier() -> Any:
    """True for a delivery with an unfinished earlier one in its run thread (threads go out in order). A
    scalar subquery rather than EXISTS: PostgreSQL runs it per row from the thread's index, where an
    anti-join planned on stale statistics (a table that just grew) may scan every pending row per row."""
    earlier = deliveries.alias("earlier")
    return select(earlier.c.id).where(
        earlier.c.thread_key == deliveries.c.thread_key, earlier.c.id < deliveries.c.id,
        earlier.c.status.in_(UNFINISHED)).limit(1).scalar_subquery().is_not(None)


def _delivery(row: Any, *, attempts: int) -> Delivery:
    return Delivery(id=row["id"], event_id=row["event_id"], thread_key=row["thread_key"],
                    channel=row["channel"], action=row["action"], template=row["template"],
                    payload=json.loads(row["payload"]), message_key=row["message_key"],
                    parent_key=row["parent_key"], rank=row["rank"], attempts=attempts,
                    created_at=row["created_at"], due_at=due_at(row),
                    recipe=json.loads(row["recipe"]) if row["recipe"] else None)

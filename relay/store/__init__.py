"""The relay's state in SQL (SQLite or PostgreSQL): events seen, the delivery outbox, the message map,
background jobs, the Manual Judgments made from Slack, the Slack requests taken (against replays) and
how many commands each person sent this minute.

Every SQL statement the relay runs lives here. Deliveries and jobs are leased so any number of workers
can share the outbox: taking a lease is a row update, and an expired lease makes the row available again.
A judgment's claim on its stage is a unique column, so only one click per stage ever reaches Gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()


def _leased_queue_columns() -> list[Column]:
    """What every leased queue (deliveries, jobs) keeps per row: state, attempts, schedule and lease."""
    return [
        Column("status", String(16), nullable=False, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", Float, nullable=False),
        Column("lease_until", Float),
        Column("leased_by", String(255)),
        Column("last_error", Text),
    ]


events = Table(
    "events", metadata,
    Column("event_id", String(255), primary_key=True),
    Column("type", String(200), nullable=False),
    Column("application", String(255)),
    Column("execution_id", String(255)),
    Column("received_at", Float, nullable=False),
    Column("notifications", Integer, nullable=False),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(255), index=True),
    Column("thread_key", String(512), nullable=False, index=True),
    Column("channel", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("message_key", String(512)),
    Column("parent_key", String(512)),
    Column("rank", Integer, nullable=False, default=0),
    Column("template", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    *_leased_queue_columns(),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("ts", String(64)),
)

messages = Table(
    "messages", metadata,
    Column("key", String(512), primary_key=True),
    Column("channel", String(255), nullable=False),
    Column("ts", String(64), nullable=False),
    Column("rank", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)

channels = Table(
    "channels", metadata,
    Column("channel", String(255), primary_key=True),
    Column("next_allowed_at", Float, nullable=False),
    Column("joined", Boolean, nullable=False, default=False),
)

jobs = Table(
    "jobs", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    *_leased_queue_columns(),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)

judgments = Table(
    "judgments", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("execution_id", String(255), nullable=False),
    Column("stage_id", String(255), nullable=False),
    Column("address", String(255), nullable=False),
    Column("application", String(255)),
    Column("decision", String(16), nullable=False),
    Column("input_index", Integer),
    Column("judgment_input", Text),
    Column("reason", Text),
    Column("user_id", String(64), nullable=False),
    Column("user_email", String(320)),
    Column("channel_id", String(255)),
    Column("message_ts", String(64)),
    Column("thread_ts", String(64)),
    Column("status", String(16), nullable=False, index=True),
    Column("detail", Text),
    Column("claim", String(512)),
    Column("gate_status", Integer),
    Column("gate_user", String(255)),
    Column("stage_status", String(32)),
    Column("snapshot", Text),
    Column("received_at", Float, nullable=False),
    Column("claimed_at", Float),
    Column("patched_at", Float),
    Column("finished_at", Float),
    UniqueConstraint("claim", name="uq_judgments_claim"),
)
Index("ix_judgments_stage", judgments.c.execution_id, judgments.c.stage_id)

slack_requests = Table(
    "slack_requests", metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

command_counts = Table(
    "command_counts", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

PENDING, SENDING, SENT, FAILED, DRY_RUN, SUPERSEDED = (
    "pending", "sending", "sent", "failed", "dry_run", "superseded")
UNFINISHED = (PENDING, SENDING)
READ_ONLY = "relay_read_only"  # an execution option: the connection only reads (see Store._reading)
MIGRATION_LOCK_KEY = 0x5E1A7  # any constant shared by every replica of the relay
PREPARE_THRESHOLD = 1  # psycopg: executions of a statement on a connection before it is prepared
# Per SQLite connection, for one writer and many readers: WAL pages cached and read through a memory map, a
# temporary table never on disk, and the WAL file cut back after each checkpoint.
SQLITE_PRAGMAS = ("cache_size=-8000", "mmap_size=134217728", "temp_store=MEMORY",
                  "journal_size_limit=67108864")


@dataclass(frozen=True)
class DeliveryDraft:
    """A delivery planned at ingest, before it has an id."""

    thread_key: str
    channel: str
    action: str  # "upsert" the run's parent message, "reply" in its thread, "post" on its own, or
    # "ephemeral": a note only payload["user"] sees
    template: str
    payload: dict[str, Any]
    message_key: str | None = None
    parent_key: str | None = None
    rank: int = 0


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
    attempts: int


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


class DuplicateEvent(Exception):
    """The event id was accepted before."""


class Store:
    """SQLAlchemy Core access to the relay's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"

    @classmethod
    def from_url(cls, url: str) -> Store:
        """An engine tuned for the backend: WAL, a busy timeout and immediate transactions on SQLite."""
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _tune_sqlite(engine)
        else:
            # LIFO hands out the connection used last, whose server process is warm; psycopg prepares a
            # statement the second time a connection runs it, so the webhook's and the dispatcher's
            # statements are parsed and planned once per connection.
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_use_lifo=True,
                                   connect_args={"prepare_threshold": PREPARE_THRESHOLD})
        return cls(engine)

    def create_schema(self) -> None:
        """Create every table (tests and the embedded default; production uses migrations)."""
        metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads only. On SQLite its transaction is deferred rather than immediate, so in WAL
        mode it neither waits for a writer nor holds one up (the dispatcher's polls, webhook lookups)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def lock_for_migrations(self, conn: Connection) -> None:
        """Serialize schema upgrades started at once by several replicas: a PostgreSQL advisory lock held
        until `conn`'s transaction ends (SQLite's BEGIN IMMEDIATE serializes them already)."""
        if self.is_postgres:
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))

    # --- ingest -------------------------------------------------------------------------------------

    def accept_event(self, *, event_id: str, type: str, application: str | None, execution_id: str | None,
                     drafts: Iterable[DeliveryDraft], now: float) -> None:
        """Record an event and its deliveries in one transaction; raise DuplicateEvent if seen before."""
        drafts = list(drafts)
        try:
            with self.engine.begin() as conn:
                # Parameters rather than .values(): the statement is then the same object shape on every
                # event, which spares SQLAlchemy rebuilding and re-keying it on the webhook's hot path.
                conn.execute(insert(events), {
                    "event_id": event_id, "type": type, "application": application,
                    "execution_id": execution_id, "received_at": now, "notifications": len(drafts)})
                self._insert_drafts(conn, drafts, event_id=event_id, now=now)
        except IntegrityError:
            if self.event_seen(event_id):
                raise DuplicateEvent(event_id) from None
            raise

    def event_seen(self, event_id: str) -> bool:
        with self._reading() as conn:
            return conn.execute(select(events.c.event_id).where(events.c.event_id == event_id)).first() \
                is not None

    def event_application(self, event_id: str) -> str | None:
        """The application of an accepted event (None when unknown)."""
        with self._reading() as conn:
            return conn.execute(select(events.c.application).where(events.c.event_id == event_id)).scalar()

    def recent_applications(self, *, since: float, limit: int = 20) -> list[str]:
        """Applications the relay received events for since `since`, most recently active first."""
        latest = func.max(events.c.received_at)
        query = (select(events.c.application)
                 .where(events.c.received_at >= since, events.c.application.is_not(None))
                 .group_by(events.c.application).order_by(latest.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [row.application for row in conn.execute(query)]

    def thread_started(self, thread_key: str) -> bool:
        """Whether a parent message exists or is queued for this run and channel."""
        mapped = select(messages.c.key).where(messages.c.key == thread_key).exists()
        queued = select(deliveries.c.id).where(
            deliveries.c.thread_key == thread_key, deliveries.c.action == "upsert").exists()
        with self._reading() as conn:
            return bool(conn.execute(select(or_(mapped, queued))).scalar())

    def queue_deliveries(self, drafts: list[DeliveryDraft], *, now: float) -> None:
        """Queue deliveries that answer no event (a note to someone who clicked, say)."""
        with self.transaction() as conn:
            self._insert_drafts(conn, drafts, event_id=None, now=now)

    def _insert_drafts(self, conn: Connection, drafts: list[DeliveryDraft], *, event_id: str | None,
                       now: float) -> None:
        for channel in sorted({d.channel for d in drafts}):
            self._ensure_channel(conn, channel)
        if drafts:
            conn.execute(insert(deliveries), [_draft_row(d, event_id, now) for d in drafts])

    def queued_message_keys(self, prefix: str, template: str) -> set[str]:
        """Keys starting with `prefix` of unfinished deliveries of one template (messages not posted yet)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.message_key).where(
                deliveries.c.message_key.like(_like_prefix(prefix), escape="\\"),
                deliveries.c.template == template, deliveries.c.status.in_(UNFINISHED)))
            return {row.message_key for row in rows}

    def _ensure_channel(self, conn: Connection, channel: str) -> None:
        exists = conn.execute(select(channels.c.channel).where(channels.c.channel == channel)).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(channels).values(channel=channel, next_allowed_at=0.0, joined=False))
            except IntegrityError:
                pass  # another transaction added it first

    # --- dispatch -----------------------------------------------------------------------------------

    def lease_deliveries(self, *, worker: str, now: float, lease: float, interval: float,
              limit: int = 20) -> list[Delivery]:
        """Claim due deliveries: the oldest unfinished one per run thread, at most one per channel per
        `interval` seconds (a compare-and-set on the channel's next slot, so pacing holds across workers).

        A delivery whose lease ran out (its worker died mid-send) is due again, and that try counts as an
        attempt. Channel slots are taken in channel order, so two workers leasing at once never wait on
        each other's slots in opposite orders (a deadlock on PostgreSQL)."""
        blocked_by_earlier = _waits_for_earlier()
        due = or_(and_(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now),
                  and_(deliveries.c.status == SENDING, deliveries.c.lease_until < now))
        # Free channels as a subquery rather than a join: rows of channels still paced are ruled out on their
        # channel alone, which keeps a poll cheap while one channel has a long backlog.
        free_channels = select(channels.c.channel).where(channels.c.next_allowed_at <= now)
        query = (select(deliveries).where(deliveries.c.channel.in_(free_channels), due, ~blocked_by_earlier)
                 .order_by(deliveries.c.id).limit(limit))
        if self.is_postgres:
            query = query.with_for_update(of=deliveries, skip_locked=True)
        else:
            # SQLite has one writer at a time: look without the write lock first, so that a poll finding
            # nothing (the usual case, and every poll while a backlog waits for its channel) never holds
            # the webhook up.
            with self._reading() as conn:
                if conn.execute(query.with_only_columns(deliveries.c.id).limit(1)).first() is None:
                    return []
        leased: list[Delivery] = []
        with self.engine.begin() as conn:
            by_channel: dict[str, list[Any]] = {}
            for row in conn.execute(query).mappings().all():
                by_channel.setdefault(row["channel"], []).append(row)
            for channel in sorted(by_channel):
                delivery = self._lease_in_channel(conn, by_channel[channel], worker=worker, now=now,
                                                  lease=lease, interval=interval)
                if delivery is not None:
                    leased.append(delivery)
        return sorted(leased, key=lambda d: d.id)

    def _lease_in_channel(self, conn: Connection, rows: list[Any], *, worker: str, now: float, lease: float,
                          interval: float) -> Delivery | None:
        """Take the channel's next slot for its oldest available row, skipping superseded upserts."""
        for row in rows:
            if row["action"] == "upsert" and self._superseded(conn, row):
                conn.execute(update(deliveries).where(deliveries.c.id == row["id"])
                             .values(status=SUPERSEDED, sent_at=now, lease_until=None))
                continue
            slot = conn.execute(update(channels).where(
                channels.c.channel == row["channel"], channels.c.next_allowed_at <= now)
                .values(next_allowed_at=now + interval))
            if slot.rowcount != 1:
                return None
            values = _lease(row, worker=worker, now=now, lease=lease)
            conn.execute(update(deliveries).where(deliveries.c.id == row["id"]).values(**values))
            return _delivery(row, attempts=values["attempts"])
        return None

    def _superseded(self, conn: Connection, row: Any) -> bool:
        """An upsert whose very next delivery in the thread is a newer upsert of the same message, of a state
        at least as late (an older event arriving late supersedes nothing)."""
        columns = (deliveries.c.action, deliveries.c.message_key, deliveries.c.rank)
        following = conn.execute(select(*columns).where(
            deliveries.c.thread_key == row["thread_key"], deliveries.c.id > row["id"],
            deliveries.c.status == PENDING).order_by(deliveries.c.id).limit(1)).first()
        return (following is not None and following.action == "upsert"
                and following.message_key == row["message_key"] and following.rank >= row["rank"])

    def mark_sent(self, delivery_id: int, *, worker: str, now: float, ts: str | None,
                  status: str = SENT, note: str | None = None) -> bool:
        """Finish a delivery if this worker still holds its lease; False if the lease was lost."""
        with self.engine.begin() as conn:
            result = conn.execute(update(deliveries).where(
                deliveries.c.id == delivery_id, deliveries.c.status == SENDING,
                deliveries.c.leased_by == worker)
                .values(status=status, sent_at=now, ts=ts, lease_until=None, last_error=note))
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
        slot = case((channels.c.next_allowed_at > deliveries.c.next_attempt_at, channels.c.next_allowed_at),
                    else_=deliveries.c.next_attempt_at)
        waiting = (select(func.min(slot))
                   .join_from(deliveries, channels, deliveries.c.channel == channels.c.channel)
                   .where(deliveries.c.status == PENDING, ~_waits_for_earlier()))
        with self._reading() as conn:
            pending = conn.execute(waiting).scalar()
            leased = conn.execute(select(func.min(deliveries.c.lease_until))
                                  .where(deliveries.c.status == SENDING)).scalar()
        times = [t for t in (pending, leased) if t is not None]
        return min(times) if times else None

    # --- Slack requests taken -----------------------------------------------------------------------

    def take_slack_request(self, key: str, *, expires_at: float, now: float) -> bool:
        """Remember a Slack request (a signature's or an envelope's hash) until `expires_at`; False if it
        was taken before, on any replica. Expired ones are pruned on the way."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(slack_requests).where(slack_requests.c.expires_at < now))
                conn.execute(insert(slack_requests), {"key": key, "expires_at": expires_at})
        except IntegrityError:
            return False
        return True

    # --- command rate -------------------------------------------------------------------------------

    def count_command(self, user_id: str, *, now: float, window: int = 60) -> int:
        """Count one command by `user_id` in the current `window` seconds and return the window's count so
        far; every replica counts in the same row, and the user's earlier windows are dropped."""
        start = int(now // window) * window
        upsert = _dialect_insert(self.is_postgres)(command_counts).values(user_id=user_id, window_start=start,
                                                                        count=1)
        upsert = upsert.on_conflict_do_update(index_elements=[command_counts.c.user_id,
                                                              command_counts.c.window_start],
                                              set_={"count": command_counts.c.count + 1})
        with self.engine.begin() as conn:
            count = conn.execute(upsert.returning(command_counts.c.count)).scalar_one()
            conn.execute(delete(command_counts).where(command_counts.c.user_id == user_id,
                                                      command_counts.c.window_start < start))
        return count

    # --- jobs ---------------------------------------------------------------------------------------

    def enqueue_job(self, kind: str, payload: dict[str, Any], *, now: float, delay: float = 0.0,
                    conn: Connection | None = None) -> int:
        """Queue a job, inside the caller's transaction when `conn` is given."""
        statement = insert(jobs).values(kind=kind, payload=json.dumps(payload), status=PENDING, attempts=0,
                                        next_attempt_at=now + delay, created_at=now)
        if conn is not None:
            return conn.execute(statement).inserted_primary_key[0]
        with self.engine.begin() as own:
            return own.execute(statement).inserted_primary_key[0]

    def lease_jobs(self, *, worker: str, now: float, lease: float, limit: int = 10) -> list[Job]:
        """Claim due jobs: pending ones, and those whose worker's lease ran out (counted as an attempt)."""
        due = or_(and_(jobs.c.status == PENDING, jobs.c.next_attempt_at <= now),
                  and_(jobs.c.status == SENDING, jobs.c.lease_until < now))
        query = select(jobs).where(due).order_by(jobs.c.id).limit(limit)
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        leased: list[Job] = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).mappings().all():
                values = _lease(row, worker=worker, now=now, lease=lease)
                conn.execute(update(jobs).where(jobs.c.id == row["id"]).values(**values))
                leased.append(Job(id=row["id"], kind=row["kind"], payload=json.loads(row["payload"]),
                                   attempts=values["attempts"]))
        return leased

    def finish_job(self, job_id: int, *, worker: str, now: float, error: str | None = None) -> None:
        """Mark a job done, or failed for good when `error` is given."""
        values: dict[str, Any] = {"status": FAILED if error else SENT, "finished_at": now,
                                  "lease_until": None, "last_error": error}
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.leased_by == worker).values(**values))

    def retry_job(self, job_id: int, *, worker: str, at: float, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.leased_by == worker).values(
                status=PENDING, next_attempt_at=at, lease_until=None, leased_by=None, last_error=error,
                attempts=jobs.c.attempts + 1))

    # --- message map --------------------------------------------------------------------------------

    def message(self, key: str) -> MessageRef | None:
        with self._reading() as conn:
            row = conn.execute(select(messages).where(messages.c.key == key)).mappings().first()
        return MessageRef(channel=row["channel"], ts=row["ts"], rank=row["rank"]) if row else None

    def messages_with_prefix(self, prefix: str) -> dict[str, MessageRef]:
        """Every mapped message whose key starts with `prefix` (e.g. one stage's messages in all channels)."""
        with self.engine.connect() as conn:
            matching = messages.c.key.like(_like_prefix(prefix), escape="\\")
            rows = conn.execute(select(messages).where(matching)).mappings()
            return {r["key"]: MessageRef(channel=r["channel"], ts=r["ts"], rank=r["rank"]) for r in rows}

    def remember_message(self, key: str, ref: MessageRef, *, now: float) -> None:
        """Map a key (a run in a channel, or a judgment stage) to its Slack message; last writer wins."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(messages).where(messages.c.key == key).values(
                channel=ref.channel, ts=ref.ts, rank=ref.rank, updated_at=now)).rowcount
            if not changed:
                conn.execute(insert(messages).values(key=key, channel=ref.channel, ts=ref.ts, rank=ref.rank,
                                                     updated_at=now))

    # --- judgments ----------------------------------------------------------------------------------

    def record_judgment(self, values: dict[str, Any], *, now: float, job_kind: str) -> int:
        """Record a click and queue the job that resolves it, in one transaction; returns the judgment id."""
        with self.engine.begin() as conn:
            inserted = conn.execute(insert(judgments).values(**values, received_at=now))
            judgment_id = inserted.inserted_primary_key[0]
            self.enqueue_job(job_kind, {"judgment": judgment_id}, now=now, conn=conn)
        return judgment_id

    def judgment(self, judgment_id: int) -> Judgment | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(judgments).where(judgments.c.id == judgment_id)).mappings().first()
        return Judgment(**row) if row else None

    def claim_judgment(self, judgment_id: int, *, key: str, values: dict[str, Any], now: float,
                       drafts: Iterable[DeliveryDraft] = ()) -> Judgment | None:
        """Take the stage's claim (`key`) for a received judgment, setting `values` and queueing `drafts` with
        it. Returns the judgment holding the claim (this one when it won), or None when this judgment was
        no longer waiting to claim (another run of its job got there first)."""
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    moved = conn.execute(update(judgments).where(
                        judgments.c.id == judgment_id, judgments.c.status == RECEIVED).values(
                        **values, claim=key, status=CLAIMED, claimed_at=now)).rowcount
                    if moved == 1:
                        self._insert_drafts(conn, list(drafts), event_id=None, now=now)
            except IntegrityError:
                holder = self.claim_holder(key)
                if holder is not None:
                    return holder
                continue  # the holder let go between our attempt and the look-up: try again
            return self.judgment(judgment_id) if moved == 1 else None
        raise RuntimeError(f"judgment {judgment_id}: the claim on {key} kept changing hands")

    def claim_holder(self, key: str) -> Judgment | None:
        """The judgment holding a stage's claim, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(judgments).where(judgments.c.claim == key)).mappings().first()
        return Judgment(**row) if row else None

    def update_judgment(self, judgment_id: int, values: dict[str, Any], *, expect: str, now: float,
                        drafts: Iterable[DeliveryDraft] = ()) -> bool:
        """Move a judgment on from status `expect` and queue the deliveries that report it, in one
        transaction. False, with nothing changed, when the judgment was no longer in status `expect`
        (another run of its job moved it first)."""
        with self.engine.begin() as conn:
            moved = conn.execute(update(judgments).where(
                judgments.c.id == judgment_id, judgments.c.status == expect).values(**values)).rowcount
            if moved == 1:
                self._insert_drafts(conn, list(drafts), event_id=None, now=now)
        return moved == 1

    def list_judgments(self, *, limit: int = 50) -> list[Judgment]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(judgments).order_by(judgments.c.id.desc()).limit(limit)).mappings()
            return [Judgment(**row) for row in rows]

    # --- operators ----------------------------------------------------------------------------------

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


def _dialect_insert(postgres: bool) -> Any:
    """INSERT with ON CONFLICT, which SQLite and PostgreSQL spell the same way in SQLAlchemy."""
    return postgresql.insert if postgres else sqlite.insert


def _waits_for_earlier() -> Any:
    """True for a delivery with an unfinished earlier one in its run thread (threads go out in order)."""
    earlier = deliveries.alias("earlier")
    return select(earlier.c.id).where(
        earlier.c.thread_key == deliveries.c.thread_key, earlier.c.id < deliveries.c.id,
        earlier.c.status.in_(UNFINISHED)).exists()


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching `prefix` literally, with backslash as the escape character."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _draft_row(draft: DeliveryDraft, event_id: str | None, now: float) -> dict[str, Any]:
    return {"event_id": event_id, "thread_key": draft.thread_key, "channel": draft.channel,
            "action": draft.action, "message_key": draft.message_key, "parent_key": draft.parent_key,
            "rank": draft.rank, "template": draft.template, "payload": json.dumps(draft.payload),
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}


def _lease(row: Any, *, worker: str, now: float, lease: float) -> dict[str, Any]:
    """The update that claims a delivery or job row; retaking an expired lease counts as an attempt."""
    values: dict[str, Any] = {"status": SENDING, "lease_until": now + lease, "leased_by": worker,
                              "attempts": row["attempts"]}
    if row["status"] == SENDING:
        values.update(attempts=row["attempts"] + 1,
                      last_error=f"lease of {row['leased_by']} expired mid-send")
    return values


def _delivery(row: Any, *, attempts: int) -> Delivery:
    return Delivery(id=row["id"], event_id=row["event_id"], thread_key=row["thread_key"],
                    channel=row["channel"], action=row["action"], template=row["template"],
                    payload=json.loads(row["payload"]), message_key=row["message_key"],
                    parent_key=row["parent_key"], rank=row["rank"], attempts=attempts,
                    created_at=row["created_at"])


def _tune_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so two processes never deadlock upgrading a lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

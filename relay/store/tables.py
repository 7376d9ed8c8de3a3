"""The relay's tables, as SQLAlchemy Core declares them (the migrations build the same)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def leased_queue_columns() -> list[Column]:
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
    # The event as accepted (JSON), when it notifies: its messages are rendered from it at send time.
    Column("facts", LargeBinary),
)


deliveries = Table(
    "deliveries", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(255), index=True),
    Column("thread_key", String(512), nullable=False),
    Column("channel", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("message_key", String(512)),
    Column("parent_key", String(512)),
    Column("rank", Integer, nullable=False, default=0),
    Column("template", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    # How to render the message from its event's facts at send time (JSON); NULL: the payload is the message.
    Column("recipe", Text),
    *leased_queue_columns(),
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
    *leased_queue_columns(),
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


last_successes = Table(
    "last_successes", metadata,
    Column("pipeline_config_id", String(255), primary_key=True),
    Column("execution_id", String(255)),  # NULL: no run had succeeded when Gate was asked
    Column("start_time", Float),  # the run's startTime, in milliseconds as Orca writes it
    Column("version", Text),  # JSON, NULL when the run's trigger names no version
    Column("checked_at", Float, nullable=False),
)
Index("ix_judgments_stage", judgments.c.execution_id, judgments.c.stage_id)


judgment_timers = Table(
    "judgment_timers", metadata,
    Column("key", String(512), primary_key=True),  # <executionId>/<stageId>
    Column("execution_id", String(255), nullable=False),
    Column("stage_id", String(255), nullable=False),
    Column("application", String(255)),
    Column("started_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("plan", Text, nullable=False),
    Column("reminded", Text, nullable=False),
    Column("escalated", Boolean, nullable=False),
    Column("dms_pending", Boolean, nullable=False),
    Column("next_at", Float),
    Column("outcome", String(16)),
    Column("judge", String(320)),
    Column("ended_at", Float, index=True),
    Column("version", Integer, nullable=False),
    Column("pipeline", String(255)),
    Column("stage_name", String(255)),
)
# What the console filters and lists by (migration 0010).
Index("ix_judgment_timers_stage", judgment_timers.c.execution_id, judgment_timers.c.stage_id)
Index("ix_judgment_timers_pipeline", judgment_timers.c.pipeline)
Index("ix_judgments_application", judgments.c.application)
Index("ix_judgments_user_email", judgments.c.user_email)
Index("ix_judgments_received_at", judgments.c.received_at)
Index("ix_deliveries_status_id", deliveries.c.status, deliveries.c.id)
# What the dispatcher polls by (migration 0012): a channel's deliveries by status in schedule order and in id
# order, and a thread's in id order (whether an earlier one is unfinished).
Index("ix_deliveries_channel_due", deliveries.c.channel, deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_channel_id", deliveries.c.channel, deliveries.c.status, deliveries.c.id)
Index("ix_deliveries_thread_id", deliveries.c.thread_key, deliveries.c.id)
# Key prefixes (one stage's messages in every channel) are looked up with LIKE 'prefix%', which PostgreSQL
# answers from a btree only with the pattern operator class unless the database's collation is "C".
Index("ix_messages_key_pattern", messages.c.key, postgresql_ops={"key": "varchar_pattern_ops"})


home_users = Table(
    "home_users", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("opened_at", Float, nullable=False, index=True),
)

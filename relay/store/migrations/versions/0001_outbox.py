"""Events seen, the delivery outbox, the message map and channel pacing.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("application", sa.String(255)),
        sa.Column("execution_id", sa.String(255)),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("notifications", sa.Integer, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("event_id", sa.String(255)),
        sa.Column("thread_key", sa.String(512), nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("message_key", sa.String(512)),
        sa.Column("parent_key", sa.String(512)),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float),
        sa.Column("leased_by", sa.String(255)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        sa.Column("ts", sa.String(64)),
    )
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])
    op.create_index("ix_deliveries_thread_key", "deliveries", ["thread_key"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_table(
        "messages",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("ts", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "channels",
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("next_allowed_at", sa.Float, nullable=False),
        sa.Column("joined", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channels")
    op.drop_table("messages")
    op.drop_table("deliveries")
    op.drop_table("events")

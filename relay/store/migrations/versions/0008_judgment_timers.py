"""Judgment timers: reminders, escalation and expiry of waiting Manual Judgments, kept across restarts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judgment_timers",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("execution_id", sa.String(255), nullable=False),
        sa.Column("stage_id", sa.String(255), nullable=False),
        sa.Column("application", sa.String(255)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("deadline", sa.Float, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("reminded", sa.Text, nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("dms_pending", sa.Boolean, nullable=False),
        sa.Column("next_at", sa.Float),
        sa.Column("outcome", sa.String(16)),
        sa.Column("judge", sa.String(320)),
        sa.Column("ended_at", sa.Float),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_judgment_timers_ended_at", "judgment_timers", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_judgment_timers_ended_at", table_name="judgment_timers")
    op.drop_table("judgment_timers")

"""Manual Judgments made from Slack: the audit record, and the claim that lets one click per stage through.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judgments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("execution_id", sa.String(255), nullable=False),
        sa.Column("stage_id", sa.String(255), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("application", sa.String(255)),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("input_index", sa.Integer),
        sa.Column("judgment_input", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("user_email", sa.String(320)),
        sa.Column("channel_id", sa.String(255)),
        sa.Column("message_ts", sa.String(64)),
        sa.Column("thread_ts", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        # Set to "<executionId>/<stageId>" while a judgment holds its stage, NULL otherwise: NULLs never
        # collide, so the unique constraint admits one holder per stage on SQLite and PostgreSQL alike.
        sa.Column("claim", sa.String(512)),
        sa.Column("gate_status", sa.Integer),
        sa.Column("gate_user", sa.String(255)),
        sa.Column("stage_status", sa.String(32)),
        sa.Column("snapshot", sa.Text),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("claimed_at", sa.Float),
        sa.Column("patched_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.UniqueConstraint("claim", name="uq_judgments_claim"),
    )
    op.create_index("ix_judgments_status", "judgments", ["status"])
    op.create_index("ix_judgments_stage", "judgments", ["execution_id", "stage_id"])


def downgrade() -> None:
    op.drop_table("judgments")

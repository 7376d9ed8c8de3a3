"""The console: each waiting judgment's pipeline and stage name, and indexes for its filters and listings
(and for looking up a stage's messages by key prefix on PostgreSQL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_judgment_timers_stage", "judgment_timers", ["execution_id", "stage_id"]),
    ("ix_judgment_timers_pipeline", "judgment_timers", ["pipeline"]),
    ("ix_judgments_application", "judgments", ["application"]),
    ("ix_judgments_user_email", "judgments", ["user_email"]),
    ("ix_judgments_received_at", "judgments", ["received_at"]),
    ("ix_deliveries_status_id", "deliveries", ["status", "id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("judgment_timers") as batch:
        batch.add_column(sa.Column("pipeline", sa.String(255)))
        batch.add_column(sa.Column("stage_name", sa.String(255)))
    # Timers started before this revision keep their names in the plan's snapshot of the execution.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE judgment_timers SET pipeline = left(plan::json->'snapshot'->>'name', 255), "
                   "stage_name = left(plan::json->'snapshot'->'stages'->0->>'name', 255)")
    else:
        op.execute("UPDATE judgment_timers SET "
                   "pipeline = substr(json_extract(plan, '$.snapshot.name'), 1, 255), "
                   "stage_name = substr(json_extract(plan, '$.snapshot.stages[0].name'), 1, 255)")
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_index("ix_messages_key_pattern", "messages", ["key"],
                    postgresql_ops={"key": "varchar_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_messages_key_pattern", table_name="messages")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("judgment_timers") as batch:
        batch.drop_column("stage_name")
        batch.drop_column("pipeline")

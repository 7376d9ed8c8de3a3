"""Indexes the dispatcher polls by: a channel's deliveries by status in schedule order and in id order, and
a thread's deliveries in id order (replacing the index on the thread alone), so that a poll looks at the
head of each channel's queue, not at its whole backlog.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_deliveries_channel_due", ["channel", "status", "next_attempt_at"]),
    ("ix_deliveries_channel_id", ["channel", "status", "id"]),
    ("ix_deliveries_thread_id", ["thread_key", "id"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "deliveries", columns)
    op.drop_index("ix_deliveries_thread_key", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_thread_key", "deliveries", ["thread_key"])
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="deliveries")

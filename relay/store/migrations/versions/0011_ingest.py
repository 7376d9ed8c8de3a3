"""Messages rendered at send time: each accepted event keeps its facts, each delivery the recipe of its
message.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("facts", sa.LargeBinary))
    op.add_column("deliveries", sa.Column("recipe", sa.Text))
    if op.get_bind().dialect.name == "postgresql":
        # Written once per notifying event on the webhook's path, read once per message: compressing a
        # multi-megabyte execution would cost more CPU than the disk it saves.
        op.execute("ALTER TABLE events ALTER COLUMN facts SET STORAGE EXTERNAL")


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("recipe")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("facts")

"""Home tab users: who opened the relay's App Home, so their "pending approvals" tab is kept up to date.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "home_users",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("opened_at", sa.Float, nullable=False),
    )
    op.create_index("ix_home_users_opened_at", "home_users", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_home_users_opened_at", table_name="home_users")
    op.drop_table("home_users")

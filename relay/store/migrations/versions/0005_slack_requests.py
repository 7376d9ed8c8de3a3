"""Slack requests taken: a hash per signed request or Socket Mode envelope, so a replay takes no effect.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_requests",
        sa.Column("key", sa.String(64), primary_key=True),
        # The request's signature stops being valid then (its timestamp plus Slack's window and some
        # clock skew), so a replay is refused by the signature check once its row is pruned.
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_slack_requests_expires_at", "slack_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_table("slack_requests")

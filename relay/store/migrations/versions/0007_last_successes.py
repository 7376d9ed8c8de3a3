"""Each pipeline's latest successful run as Gate last reported it, for the from → to of judgment messages.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "last_successes",
        sa.Column("pipeline_config_id", sa.String(255), primary_key=True),
        sa.Column("execution_id", sa.String(255)),
        sa.Column("start_time", sa.Float),
        sa.Column("version", sa.Text),
        sa.Column("checked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("last_successes")

"""A judgment whose PATCH is on its way to Gate is `patching`, no longer `sent` (a delivery's word).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

judgments = sa.table("judgments", sa.column("status", sa.String))


def upgrade() -> None:
    op.execute(judgments.update().where(judgments.c.status == "sent").values(status="patching"))


def downgrade() -> None:
    op.execute(judgments.update().where(judgments.c.status == "patching").values(status="sent"))

"""gateways: when the broker last showed a late gateway's connection alive

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "gateways",
        sa.Column("connection_seen_at", sa.DateTime(timezone=True), nullable=True),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_column("gateways", "connection_seen_at", schema="registry")

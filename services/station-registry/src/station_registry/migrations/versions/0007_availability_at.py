"""when a connector's availability was set by an accepted ChangeAvailability

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "connectors",
        sa.Column("availability_at", sa.DateTime(timezone=True), nullable=True),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_column("connectors", "availability_at", schema="registry")

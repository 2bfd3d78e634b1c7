"""charge points taken offline by the presence sweep

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "charge_points",
        sa.Column("offline_by_sweep", sa.Boolean(), server_default="false", nullable=False),
        schema="registry",
    )
    op.create_index(
        "ix_charge_points_swept",
        "charge_points",
        ["gateway"],
        unique=False,
        schema="registry",
        postgresql_where=sa.text("offline_by_sweep"),
    )


def downgrade() -> None:
    op.drop_index("ix_charge_points_swept", table_name="charge_points", schema="registry")
    op.drop_column("charge_points", "offline_by_sweep", schema="registry")

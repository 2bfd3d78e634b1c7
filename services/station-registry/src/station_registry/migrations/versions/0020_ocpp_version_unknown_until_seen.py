"""charge_points.ocpp_version: NULL until the station connects or boots (no '1.6' default)

A charge point registered through REST that never connected used to read "1.6", the column's
default, in the API and the console; its version is not known until its connection agrees on
one. Rows of such stations (never connected, never booted) are set to NULL.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "charge_points",
        "ocpp_version",
        existing_type=sa.String(8),
        nullable=True,
        server_default=None,
        schema="registry",
    )
    op.execute(
        "UPDATE registry.charge_points SET ocpp_version = NULL"
        " WHERE connected_at IS NULL AND last_boot_at IS NULL AND NOT online"
    )


def downgrade() -> None:
    op.execute("UPDATE registry.charge_points SET ocpp_version = '1.6' WHERE ocpp_version IS NULL")
    op.alter_column(
        "charge_points",
        "ocpp_version",
        existing_type=sa.String(8),
        nullable=False,
        server_default="1.6",
        schema="registry",
    )

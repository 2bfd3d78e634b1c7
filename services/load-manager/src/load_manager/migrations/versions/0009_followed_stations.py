"""schema loads: the stations the load-manager follows one by one

The load-manager followed every station's transaction, status and meter events to find the few
on a site. It now binds its events queue to those stations' own keys only (bus/stations.py);
this table records which stations it bound, so that a sweep can unbind those that left their
site or lost their last TxProfile. It starts with every station on a site and every station
with a stored TxProfile.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followed_stations",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column(
            "since", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="loads",
    )
    op.execute(
        "INSERT INTO loads.followed_stations (charge_point_id)"
        " SELECT charge_point_id FROM loads.stations"
        " UNION SELECT charge_point_id FROM loads.charging_profiles WHERE purpose = 'TxProfile'"
    )


def downgrade() -> None:
    op.drop_table("followed_stations", schema="loads")

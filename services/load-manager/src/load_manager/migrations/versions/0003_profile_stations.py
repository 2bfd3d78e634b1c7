"""schema loads: each station's outstanding profile command and last connection

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_stations",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("request_id", sa.String(100)),
        sa.Column("requested_at", sa.DateTime(timezone=True)),
        sa.Column("connected_at", sa.DateTime(timezone=True)),
        schema="loads",
    )
    op.create_index(
        "profile_stations_outstanding",
        "profile_stations",
        ["requested_at"],
        schema="loads",
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    # Rows sent before this revision each had their command on its way: the newest of each
    # station's stays outstanding; the others are queued behind it (sent as it is answered).
    op.execute(
        """
        INSERT INTO loads.profile_stations (charge_point_id, request_id, requested_at)
        SELECT DISTINCT ON (charge_point_id) charge_point_id, request_id, requested_at
        FROM loads.charging_profiles
        WHERE status = 'pending' AND request_id IS NOT NULL
        ORDER BY charge_point_id, requested_at DESC
        """
    )
    op.execute(
        """
        UPDATE loads.charging_profiles p SET request_id = NULL
        WHERE p.status = 'pending' AND p.request_id IS NOT NULL
          AND p.request_id <> (
            SELECT s.request_id FROM loads.profile_stations s
            WHERE s.charge_point_id = p.charge_point_id
          )
        """
    )


def downgrade() -> None:
    op.drop_table("profile_stations", schema="loads")

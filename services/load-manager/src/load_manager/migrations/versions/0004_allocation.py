"""schema loads: what the allocator knows of each station and EVSE

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stations",
        sa.Column("evses", sa.SmallInteger, nullable=False, server_default=sa.text("1")),
        schema="loads",
    )
    op.add_column(
        "stations",
        sa.Column("phases", sa.SmallInteger, nullable=False, server_default=sa.text("3")),
        schema="loads",
    )
    op.add_column("stations", sa.Column("grid_phase", sa.SmallInteger), schema="loads")
    op.add_column("stations", sa.Column("ocpp_version", sa.String(8)), schema="loads")
    op.add_column(
        "stations", sa.Column("offline_since", sa.DateTime(timezone=True)), schema="loads"
    )
    op.create_check_constraint(
        "ck_stations_evses", "stations", "evses BETWEEN 1 AND 32", schema="loads"
    )
    op.create_check_constraint(
        "ck_stations_phases",
        "stations",
        "(phases = 3 AND grid_phase IS NULL) OR (phases = 1 AND grid_phase BETWEEN 1 AND 3)",
        schema="loads",
    )
    op.create_table(
        "evse_allocations",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("evse", sa.SmallInteger, primary_key=True),
        sa.Column("applied", sa.Numeric(6, 1)),
        sa.Column("in_flight", sa.Numeric(6, 1)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("request_id", sa.String(100)),
        sa.Column("unresponsive", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("session_started_at", sa.DateTime(timezone=True)),
        sa.Column("session_priority", sa.SmallInteger),
        sa.Column("suspended_by_ev", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("underuse_since", sa.DateTime(timezone=True)),
        sa.Column("demand_cap", sa.Numeric(6, 1)),
        sa.Column("draw", sa.Numeric(7, 1)),
        sa.Column("measured_at", sa.DateTime(timezone=True)),
        sa.Column("target", sa.Numeric(6, 1)),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="loads",
    )
    op.create_index(
        "evse_allocations_request",
        "evse_allocations",
        ["request_id"],
        unique=True,
        schema="loads",
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("evse_allocations", schema="loads")
    op.drop_constraint("ck_stations_phases", "stations", schema="loads")
    op.drop_constraint("ck_stations_evses", "stations", schema="loads")
    for column in ("offline_since", "ocpp_version", "grid_phase", "phases", "evses"):
        op.drop_column("stations", column, schema="loads")

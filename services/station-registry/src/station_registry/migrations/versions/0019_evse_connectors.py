"""evse_connectors: every connector of every EVSE in our terms (status, charging state, error)

Filled from `connectors` for the stations seen so far: a 1.6 connector n is EVSE n connector 1,
its car states Occupied with a charging state (docs/vocabulary.md); a 2.0.1 EVSE's row is the
connector that last reported.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILL = """
INSERT INTO registry.evse_connectors
    (charge_point_id, evse_id, connector_id, status, charging_state, error_code, info,
     vendor_error_code, status_at, charging_state_at)
SELECT charge_point_id, connector_id, coalesce(evse_connector_id, 1),
       CASE WHEN status IN ('Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing')
            THEN 'Occupied' ELSE status END,
       CASE status WHEN 'Preparing' THEN 'EVConnected' WHEN 'Finishing' THEN 'EVConnected'
            WHEN 'Charging' THEN 'Charging' WHEN 'SuspendedEV' THEN 'SuspendedEV'
            WHEN 'SuspendedEVSE' THEN 'SuspendedEVSE' END,
       coalesce(error_code, 'NoError'), info, vendor_error_code, status_at,
       CASE WHEN status IN ('Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing')
            THEN status_at END
FROM registry.connectors
WHERE connector_id > 0 AND status IS NOT NULL AND status_at IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "evse_connectors",
        sa.Column(
            "charge_point_id",
            sa.String(48),
            sa.ForeignKey("registry.charge_points.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("evse_id", sa.BigInteger, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("charging_state", sa.String(14)),
        sa.Column("error_code", sa.String(30), nullable=False),
        sa.Column("info", sa.String(50)),
        sa.Column("vendor_error_code", sa.String(50)),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("charging_state_at", sa.DateTime(timezone=True)),
        schema="registry",
    )
    op.execute(_FILL)


def downgrade() -> None:
    op.drop_table("evse_connectors", schema="registry")

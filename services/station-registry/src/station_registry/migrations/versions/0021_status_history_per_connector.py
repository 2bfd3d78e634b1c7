"""status_history per connector and in our terms

A 2.0.1 EVSE's connectors reporting the same status at the same time kept one history row (and
one `connector.status` event) between them: the row's key had no connector within the EVSE.
The key now has it (NULL, a 1.6 row's, counts as one value: NULLS NOT DISTINCT, PostgreSQL 15).
Each new row also keeps the status in our terms (docs/vocabulary.md).

Expand only, for rolling upgrades: the new columns are nullable and not backfilled (a registry
of the release before keeps inserting without them; the API reads a row without them from its
1.6 spelling), so adding them rewrites nothing. Swapping the unique constraint builds its index
inside the migration's transaction: status writes wait while it builds (about 1 s per million
rows here; a retention, REGISTRY_STATUS_HISTORY_RETENTION_DAYS, keeps the table small).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for name, size in (("connector_status", 20), ("charging_state", 20)):
        op.add_column(
            "status_history", sa.Column(name, sa.String(size), nullable=True), schema="registry"
        )
    op.add_column(
        "status_history",
        sa.Column("connector_error_code", sa.String(30), nullable=True),
        schema="registry",
    )
    op.drop_constraint("uq_status", "status_history", schema="registry", type_="unique")
    op.create_unique_constraint(
        "uq_status",
        "status_history",
        [
            "charge_point_id",
            "connector_id",
            "evse_connector_id",
            "timestamp",
            "status",
            "error_code",
        ],
        schema="registry",
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_constraint("uq_status", "status_history", schema="registry", type_="unique")
    # The rows the new key let in beside each other (an EVSE's other connectors) go first.
    op.execute(
        "DELETE FROM registry.status_history h USING registry.status_history o"
        " WHERE h.charge_point_id = o.charge_point_id AND h.connector_id = o.connector_id"
        " AND h.timestamp = o.timestamp AND h.status = o.status"
        " AND h.error_code = o.error_code AND h.id > o.id"
    )
    op.create_unique_constraint(
        "uq_status",
        "status_history",
        ["charge_point_id", "connector_id", "timestamp", "status", "error_code"],
        schema="registry",
    )
    for name in ("connector_error_code", "charging_state", "connector_status"):
        op.drop_column("status_history", name, schema="registry")

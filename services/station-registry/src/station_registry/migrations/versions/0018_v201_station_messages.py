"""OCPP 2.0.1 stations: the connector within an EVSE, the boot reason, a 50-character vendor,
station_messages

A 2.0.1 station's EVSE is stored as `connector_id` (what 1.6 calls a connector) and the connector
within it as `evse_connector_id`. `vendor` widens to 2.0.1's 50 characters; Postgres cannot
change the type of a column a generated column reads, so `search_text` (0013) and its index are
dropped first and made again after, from the same expression.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT = (
    "lower(id || chr(31) || coalesce(name, '') || chr(31) || coalesce(description, '')"
    " || chr(31) || coalesce(vendor, '') || chr(31) || coalesce(model, '')"
    " || chr(31) || coalesce(address::text, ''))"
)


def _vendor_length(length: int) -> None:
    """`vendor` as String(length), `search_text` and its index made again around it."""
    op.drop_index("ix_charge_points_search", table_name="charge_points", schema="registry")
    op.drop_column("charge_points", "search_text", schema="registry")
    op.alter_column("charge_points", "vendor", type_=sa.String(length), schema="registry")
    op.add_column(
        "charge_points",
        sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT, persisted=True)),
        schema="registry",
    )
    op.create_index(
        "ix_charge_points_search",
        "charge_points",
        ["search_text"],
        schema="registry",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def upgrade() -> None:
    _vendor_length(50)
    op.add_column("charge_points", sa.Column("last_boot_reason", sa.String(24)), schema="registry")
    for table in ("connectors", "status_history"):
        op.add_column(table, sa.Column("evse_connector_id", sa.Integer), schema="registry")
    op.create_table(
        "station_messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("charge_point_id", sa.String(48), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("request_id", sa.BigInteger),
        sa.Column("seq_no", sa.Integer),
        sa.Column("tbc", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        schema="registry",
    )
    op.create_index(
        "ix_station_messages_cp",
        "station_messages",
        ["charge_point_id", "received_at", "id"],
        schema="registry",
    )
    op.create_index(
        "ix_station_messages_received_at", "station_messages", ["received_at"], schema="registry"
    )


def downgrade() -> None:
    op.drop_table("station_messages", schema="registry")
    for table in ("connectors", "status_history"):
        op.drop_column(table, "evse_connector_id", schema="registry")
    op.drop_column("charge_points", "last_boot_reason", schema="registry")
    # A vendor name longer than 1.6 allows is cut to fit.
    op.execute("UPDATE registry.charge_points SET vendor = left(vendor, 20)")
    _vendor_length(20)

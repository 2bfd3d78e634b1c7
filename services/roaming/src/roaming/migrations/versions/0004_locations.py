"""locations: the locations published to platforms, the stations' connector statuses they are
derived from, and the pushes to the platforms (OCPI locations, sender)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, **kw: object) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("key", sa.String(36), primary_key=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        _ts("created_at", nullable=False, server_default=sa.func.now()),
        _ts("updated_at", nullable=False),
        _ts("last_updated", nullable=False),
        schema="roaming",
    )
    op.create_index("locations_last_updated", "locations", ["last_updated"], schema="roaming")
    op.create_table(
        "location_evses",
        sa.Column(
            "location_key",
            sa.String(36),
            sa.ForeignKey("roaming.locations.key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("uid_key", sa.String(36), primary_key=True),
        sa.Column("uid", sa.String(36), nullable=False),
        sa.Column("charge_point_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("status_at", nullable=False),
        _ts("removed_at"),
        schema="roaming",
    )
    op.create_index(
        "location_evses_station",
        "location_evses",
        ["charge_point_id", "evse_id"],
        unique=True,
        schema="roaming",
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_table(
        "station_connectors",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("at", nullable=False),
        schema="roaming",
    )
    op.create_table(
        "station_presence",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("connection_id", sa.String(64)),
        sa.Column("ocpp_version", sa.String(8)),
        _ts("at", nullable=False),
        schema="roaming",
    )
    op.create_table(
        "pushes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "platform_id",
            sa.String(36),
            sa.ForeignKey("roaming.platforms.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("module", sa.String(24), nullable=False),
        sa.Column("object_key", sa.String(100), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("to_country_code", sa.String(2)),
        sa.Column("to_party_id", sa.String(3)),
        _ts("created_at", nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _ts("next_attempt_at", nullable=False, server_default=sa.func.now()),
        _ts("leased_until"),
        _ts("last_attempt_at"),
        sa.Column("last_error", sa.String(500)),
        _ts("delivered_at"),
        _ts("dropped_at"),
        sa.Column("dropped_why", sa.String(200)),
        schema="roaming",
    )
    op.create_index(
        "pushes_pending",
        "pushes",
        ["platform_id", "object_key", "id"],
        schema="roaming",
        postgresql_where=sa.text("delivered_at IS NULL AND dropped_at IS NULL"),
    )
    op.create_index("pushes_created", "pushes", ["created_at"], schema="roaming")


def downgrade() -> None:
    for table in ("pushes", "station_presence", "station_connectors", "location_evses"):
        op.drop_table(table, schema="roaming")
    op.drop_table("locations", schema="roaming")

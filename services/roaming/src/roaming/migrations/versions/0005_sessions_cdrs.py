"""sessions, cdrs: the sessions of transactions started with roaming tokens and their CDRs
(OCPI sessions and cdrs, sender)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("transaction_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("charge_point_id", sa.String(48), nullable=False),
        sa.Column("station_transaction_id", sa.String(36), nullable=False),
        sa.Column("ocpp_version", sa.String(8), nullable=False),
        sa.Column("meter_start", sa.BigInteger, nullable=False),
        sa.Column(
            "platform_id", sa.String(36), sa.ForeignKey("roaming.platforms.id"), nullable=False
        ),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("token", sa.JSON, nullable=False),
        sa.Column("place", sa.JSON, nullable=False),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.Column("authorization_reference", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        schema="roaming",
    )
    op.create_index(
        "sessions_owner",
        "sessions",
        ["country_code", "party_id", "last_updated"],
        schema="roaming",
    )
    op.create_index("sessions_last_updated", "sessions", ["last_updated"], schema="roaming")
    op.create_table(
        "cdrs",
        sa.Column("id", sa.String(39), primary_key=True),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column(
            "platform_id", sa.String(36), sa.ForeignKey("roaming.platforms.id"), nullable=False
        ),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("party_id", sa.String(3), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        schema="roaming",
    )
    op.create_index(
        "cdrs_owner", "cdrs", ["country_code", "party_id", "last_updated"], schema="roaming"
    )
    op.create_index("cdrs_last_updated", "cdrs", ["last_updated"], schema="roaming")


def downgrade() -> None:
    op.drop_table("cdrs", schema="roaming")
    op.drop_table("sessions", schema="roaming")

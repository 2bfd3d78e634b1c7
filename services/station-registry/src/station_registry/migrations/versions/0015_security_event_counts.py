"""security events: a refused handshake's client address and the refusals a row stands for (one
row per charge point, type and address a minute), and an index on received_at for retention

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "security_events", sa.Column("address", sa.String(64), nullable=True), schema="registry"
    )
    op.add_column(
        "security_events",
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        schema="registry",
    )
    # The minute a refusal row counts for: one row per CP, type, address and minute, race-free
    # across registry replicas (INSERT ... ON CONFLICT raises its count).
    op.add_column(
        "security_events",
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=True),
        schema="registry",
    )
    op.create_index(
        "ux_security_events_refusal_minute",
        "security_events",
        ["charge_point_id", "type", "address", "bucket"],
        unique=True,
        schema="registry",
        postgresql_where=sa.text("bucket IS NOT NULL"),
    )
    op.create_index(
        "ix_security_events_received_at", "security_events", ["received_at"], schema="registry"
    )


def downgrade() -> None:
    op.drop_index(
        "ux_security_events_refusal_minute", table_name="security_events", schema="registry"
    )
    op.drop_column("security_events", "bucket", schema="registry")
    op.drop_index("ix_security_events_received_at", table_name="security_events", schema="registry")
    op.drop_column("security_events", "count", schema="registry")
    op.drop_column("security_events", "address", schema="registry")

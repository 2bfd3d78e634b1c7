"""Meter values keep the meter's signature over each reading (2.0.1 signedMeterValue, a 1.6
sample of format SignedData), for the bill

Adding a nullable column changes the catalogue only: no partition is rewritten.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("meter_values", sa.Column("signed", postgresql.JSONB()), schema="sessions")


def downgrade() -> None:
    op.drop_column("meter_values", "signed", schema="sessions")

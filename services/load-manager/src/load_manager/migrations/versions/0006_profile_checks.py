"""schema loads: the comparisons of a station's stored profiles with what it holds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_checks",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("ocpp_version", sa.String(8), nullable=False),
        sa.Column("boot", sa.Boolean, nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("report_id", sa.BigInteger),
        sa.Column("connectors", JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("matched", JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("differing", JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("reported", JSONB, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_profile_checks_version"),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_table("profile_checks", schema="loads")

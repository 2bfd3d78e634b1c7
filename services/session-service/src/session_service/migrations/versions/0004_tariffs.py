"""tariffs as data: tariffs, their assignments to CPs and tags, the CPs' tags; each
transaction names the tariff it started under and keeps its per-minute fee (0 for older ones)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:27:27.135419
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charge_point_tags",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.String(length=64)), server_default="{}", nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("charge_point_id"),
        schema="sessions",
    )
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), sa.Identity(always=False, start=1), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("price_per_kwh", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column(
            "session_fee", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False
        ),
        sa.Column(
            "per_minute_fee", sa.Numeric(precision=12, scale=4), server_default="0", nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to",
            name="ck_tariffs_valid",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        schema="sessions",
    )
    op.create_table(
        "tariff_assignments",
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "target_kind IN ('charge_point', 'tag')", name="ck_tariff_assignments_kind"
        ),
        sa.ForeignKeyConstraint(["tariff_id"], ["sessions.tariffs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tariff_id", "target_kind", "target"),
        schema="sessions",
    )
    op.create_index(
        "ix_tariff_assignments_target",
        "tariff_assignments",
        ["target_kind", "target"],
        unique=False,
        schema="sessions",
    )
    op.add_column(
        "transactions", sa.Column("tariff_id", sa.Integer(), nullable=True), schema="sessions"
    )
    op.add_column(
        "transactions",
        sa.Column(
            "per_minute_fee", sa.Numeric(precision=12, scale=4), server_default="0", nullable=False
        ),
        schema="sessions",
    )
    op.create_index(
        "ix_transactions_tariff",
        "transactions",
        ["tariff_id"],
        unique=False,
        schema="sessions",
        postgresql_where=sa.text("tariff_id IS NOT NULL"),
    )
    op.create_foreign_key(
        "fk_transactions_tariff",
        "transactions",
        "tariffs",
        ["tariff_id"],
        ["id"],
        source_schema="sessions",
        referent_schema="sessions",
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint(
        "fk_transactions_tariff", "transactions", schema="sessions", type_="foreignkey"
    )
    op.drop_index(
        "ix_transactions_tariff",
        table_name="transactions",
        schema="sessions",
        postgresql_where=sa.text("tariff_id IS NOT NULL"),
    )
    op.drop_column("transactions", "per_minute_fee", schema="sessions")
    op.drop_column("transactions", "tariff_id", schema="sessions")
    op.drop_index(
        "ix_tariff_assignments_target", table_name="tariff_assignments", schema="sessions"
    )
    op.drop_table("tariff_assignments", schema="sessions")
    op.drop_table("tariffs", schema="sessions")
    op.drop_table("charge_point_tags", schema="sessions")

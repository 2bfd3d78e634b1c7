"""initial: id tags, transactions, meter values, reservations, review tables, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:09:54.773703
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("charge_point_id", "connector_id"),
        schema="sessions",
    )
    op.create_table(
        "id_tags",
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="Accepted", nullable=False),
        sa.Column("expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_id_tag", sa.String(length=20), nullable=True),
        sa.Column("max_concurrent_tx", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
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
        sa.PrimaryKeyConstraint("id_tag"),
        schema="sessions",
    )
    op.create_index(
        "ix_id_tags_parent",
        "id_tags",
        [sa.literal_column("lower(parent_id_tag)")],
        unique=False,
        schema="sessions",
    )
    op.create_index(
        "ux_id_tags_lower",
        "id_tags",
        [sa.literal_column("lower(id_tag)")],
        unique=True,
        schema="sessions",
    )
    op.create_table(
        "meter_value_messages",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("charge_point_id", "digest"),
        schema="sessions",
    )
    op.create_index(
        "ix_meter_value_messages_received",
        "meter_value_messages",
        ["received_at"],
        unique=False,
        schema="sessions",
    )
    op.create_table(
        "meter_values",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("context", sa.String(length=24), nullable=True),
        sa.Column("format", sa.String(length=12), nullable=True),
        sa.Column("measurand", sa.String(length=40), nullable=True),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("location", sa.String(length=8), nullable=True),
        sa.Column("unit", sa.String(length=12), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="sessions",
    )
    op.create_index(
        "ix_meter_values_connector",
        "meter_values",
        ["charge_point_id", "connector_id", "timestamp"],
        unique=False,
        schema="sessions",
    )
    op.create_index(
        "ix_meter_values_transaction",
        "meter_values",
        ["transaction_id", "timestamp"],
        unique=False,
        schema="sessions",
        postgresql_where=sa.text("transaction_id IS NOT NULL"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("routing_key", sa.String(length=200), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="sessions",
    )
    op.create_table(
        "reservations",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("parent_id_tag", sa.String(length=20), nullable=True),
        sa.Column("expiry_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("charge_point_id", "reservation_id"),
        schema="sessions",
    )
    op.create_index(
        "ix_reservations_active",
        "reservations",
        ["charge_point_id", "connector_id"],
        unique=False,
        schema="sessions",
        postgresql_where=sa.text("status = 'Active'"),
    )
    op.create_table(
        "transaction_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="sessions",
    )
    op.create_index(
        "ix_transaction_audit_transaction",
        "transaction_audit",
        ["transaction_id", "id"],
        unique=False,
        schema="sessions",
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), sa.Identity(always=False, start=1), nullable=False),
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=False),
        sa.Column("id_tag_status", sa.String(length=16), nullable=False),
        sa.Column("meter_start", sa.BigInteger(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("price_per_kwh", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("session_fee", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_meter_wh", sa.Numeric(precision=20, scale=3), nullable=True),
        sa.Column("last_meter_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meter_stop", sa.BigInteger(), nullable=True),
        sa.Column("stop_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.String(length=20), nullable=True),
        sa.Column("stop_id_tag", sa.String(length=20), nullable=True),
        sa.Column("stopped_by", sa.String(length=16), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=True),
        sa.Column("cost", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("stale_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column(
            "warnings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "charge_point_id",
            "connector_id",
            "id_tag",
            "start_time",
            "meter_start",
            name="uq_transactions_start",
        ),
        schema="sessions",
    )
    op.create_index(
        "ix_transactions_active_connector",
        "transactions",
        ["charge_point_id", "connector_id"],
        unique=False,
        schema="sessions",
        postgresql_where=sa.text("stop_time IS NULL"),
    )
    op.create_index(
        "ix_transactions_active_seen",
        "transactions",
        ["last_seen_at"],
        unique=False,
        schema="sessions",
        postgresql_where=sa.text("stop_time IS NULL AND stale_since IS NULL"),
    )
    op.create_index(
        "ix_transactions_cp_start",
        "transactions",
        ["charge_point_id", "start_time"],
        unique=False,
        schema="sessions",
    )
    op.create_index(
        "ix_transactions_id_tag",
        "transactions",
        [sa.literal_column("lower(id_tag)"), "start_time"],
        unique=False,
        schema="sessions",
    )
    op.create_index(
        "ix_transactions_start", "transactions", ["start_time"], unique=False, schema="sessions"
    )
    op.create_index(
        "ix_transactions_stop", "transactions", ["stop_time"], unique=False, schema="sessions"
    )
    op.create_table(
        "unmatched_stops",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("id_tag", sa.String(length=20), nullable=True),
        sa.Column("meter_stop", sa.BigInteger(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("charge_point_id", "digest", name="uq_unmatched_stops_digest"),
        schema="sessions",
    )
    op.create_index(
        "ix_unmatched_stops_received",
        "unmatched_stops",
        ["received_at"],
        unique=False,
        schema="sessions",
    )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    op.drop_table("unmatched_stops", schema="sessions")
    op.drop_table("transactions", schema="sessions")
    op.drop_table("transaction_audit", schema="sessions")
    op.drop_table("reservations", schema="sessions")
    op.drop_table("outbox", schema="sessions")
    op.drop_table("meter_values", schema="sessions")
    op.drop_table("meter_value_messages", schema="sessions")
    op.drop_table("id_tags", schema="sessions")
    op.drop_table("connectors", schema="sessions")

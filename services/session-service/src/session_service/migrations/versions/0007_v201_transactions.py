"""OCPP 2.0.1 transactions beside 1.6 ones: the version, the station's own transaction id,
the EVSE's connector, the remote start id and the id token's type; idTag and its status may be
absent (a 2.0.1 transaction may start before anyone is identified); the TransactionEvents
applied, one per (station, transactionId, seqNo), and their running fold; id tags get a type;
idTokens are 36 long

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 08:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"


def upgrade() -> None:
    op.add_column(
        "transactions",
        sa.Column("ocpp_version", sa.String(length=8), server_default="1.6", nullable=False),
        schema=S,
    )
    # The CP-chosen id of a 2.0.1 transaction; NULL for 1.6 ones (their id is ours).
    op.add_column(
        "transactions", sa.Column("station_transaction_id", sa.String(length=36)), schema=S
    )
    op.add_column("transactions", sa.Column("evse_connector_id", sa.Integer()), schema=S)
    op.add_column("transactions", sa.Column("remote_start_id", sa.Integer()), schema=S)
    op.add_column("transactions", sa.Column("id_token_type", sa.String(length=20)), schema=S)
    op.add_column(
        "transactions",
        sa.Column("event_fold", postgresql.JSONB(astext_type=sa.Text())),
        schema=S,
    )
    op.alter_column("transactions", "id_tag", type_=sa.String(length=36), nullable=True, schema=S)
    op.alter_column("transactions", "id_tag_status", nullable=True, schema=S)
    op.alter_column("transactions", "stop_id_tag", type_=sa.String(length=36), schema=S)
    op.create_unique_constraint(
        "uq_transactions_station",
        "transactions",
        ["charge_point_id", "station_transaction_id"],
        schema=S,
    )
    op.add_column(
        "id_tags",
        sa.Column("type", sa.String(length=20), server_default="ISO14443", nullable=False),
        schema=S,
    )
    # 2.0.1 units are String20 (1.6 ones fit in 12).
    op.alter_column("meter_values", "unit", type_=sa.String(length=20), schema=S)
    op.create_table(
        "transaction_events",
        sa.Column("charge_point_id", sa.String(length=48), nullable=False),
        sa.Column("station_transaction_id", sa.String(length=36), nullable=False),
        sa.Column("seq_no", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=8), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("charge_point_id", "station_transaction_id", "seq_no"),
        schema=S,
    )
    op.create_index(
        "ix_transaction_events_transaction",
        "transaction_events",
        ["transaction_id", "seq_no"],
        schema=S,
    )


def downgrade() -> None:
    op.drop_index("ix_transaction_events_transaction", "transaction_events", schema=S)
    op.drop_table("transaction_events", schema=S)
    op.alter_column("meter_values", "unit", type_=sa.String(length=12), schema=S)
    op.drop_column("id_tags", "type", schema=S)
    op.drop_constraint("uq_transactions_station", "transactions", schema=S)
    op.execute(f"DELETE FROM {S}.transactions WHERE ocpp_version <> '1.6'")
    op.alter_column("transactions", "stop_id_tag", type_=sa.String(length=20), schema=S)
    op.alter_column("transactions", "id_tag_status", nullable=False, schema=S)
    op.alter_column("transactions", "id_tag", type_=sa.String(length=20), nullable=False, schema=S)
    for name in (
        "event_fold",
        "id_token_type",
        "remote_start_id",
        "evse_connector_id",
        "station_transaction_id",
        "ocpp_version",
    ):
        op.drop_column("transactions", name, schema=S)

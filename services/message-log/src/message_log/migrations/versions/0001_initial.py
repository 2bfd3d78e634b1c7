"""schema messages: records partitioned by day, per-CP levels, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE messages.records_id_seq")
    # Partitioned by day (message_log/partitions.py creates and drops the partitions); the
    # indexes on the parent are created on every partition.
    op.execute(
        """
        CREATE TABLE messages.records (
            id bigint NOT NULL DEFAULT nextval('messages.records_id_seq'),
            at timestamptz NOT NULL,
            charge_point_id varchar(48) NOT NULL,
            kind varchar(16) NOT NULL,
            direction varchar(3),
            message_type smallint,
            message_id varchar(64),
            action varchar(64),
            payload jsonb,
            raw text,
            size integer NOT NULL,
            gateway varchar(200) NOT NULL,
            connection_id varchar(64),
            level varchar(8)
        ) PARTITION BY RANGE (at)
        """
    )
    op.execute("ALTER SEQUENCE messages.records_id_seq OWNED BY messages.records.id")
    op.execute("CREATE INDEX records_cp_at ON messages.records (charge_point_id, at DESC, id DESC)")
    op.execute("CREATE INDEX records_cp_message ON messages.records (charge_point_id, message_id)")
    op.execute(
        "CREATE INDEX records_system_log ON messages.records (at DESC, id DESC)"
        " WHERE level IS NOT NULL"
    )
    op.create_table(
        "levels",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="messages",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="messages",
    )


def downgrade() -> None:
    op.drop_table("outbox", schema="messages")
    op.drop_table("levels", schema="messages")
    op.execute("DROP TABLE messages.records")

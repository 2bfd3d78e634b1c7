"""meter values partitioned by UTC month of received_at (retention drops whole months): the
table is rebuilt, its rows and ids kept

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, charge_point_id, connector_id, transaction_id, timestamp, value, context, format,"
    " measurand, phase, location, unit, source, received_at"
)
# As in 0001, but id from a sequence (no identity on a partitioned table before Postgres 17).
CREATE = """
    CREATE TABLE sessions.meter_values (
        id bigint NOT NULL DEFAULT nextval('sessions.meter_values_id_seq'),
        charge_point_id varchar(48) NOT NULL,
        connector_id integer NOT NULL,
        transaction_id integer,
        timestamp timestamptz NOT NULL,
        value text NOT NULL,
        context varchar(24),
        format varchar(12),
        measurand varchar(40),
        phase varchar(8),
        location varchar(8),
        unit varchar(12),
        source varchar(16) NOT NULL,
        received_at timestamptz NOT NULL,
        CONSTRAINT meter_values_pkey PRIMARY KEY (id, received_at)
    ) PARTITION BY RANGE (received_at)
"""


def _next_month(start: date) -> date:
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _create_partition(start: date) -> None:
    # Named and bounded as session_service.meter_partitions (csms_shared.partitions) makes
    # them, spelled out here so this revision stays what it is when that code changes.
    end = _next_month(start)
    op.execute(
        f"CREATE TABLE sessions.meter_values_{start:%Y%m} PARTITION OF sessions.meter_values"
        f" FOR VALUES FROM ('{start.isoformat()}T00:00:00+00:00')"
        f" TO ('{end.isoformat()}T00:00:00+00:00')"
    )


def _create_indexes() -> None:
    op.create_index(
        "ix_meter_values_connector",
        "meter_values",
        ["charge_point_id", "connector_id", "timestamp"],
        schema="sessions",
    )
    op.create_index(
        "ix_meter_values_transaction",
        "meter_values",
        ["transaction_id", "timestamp"],
        schema="sessions",
        postgresql_where=sa.text("transaction_id IS NOT NULL"),
    )


def _set_aside_old_table() -> None:
    """`meter_values` becomes `meter_values_old`, without the key and index names the new table
    takes (it is only read once more, by the copy)."""
    op.execute("ALTER TABLE sessions.meter_values RENAME TO meter_values_old")
    op.execute("DROP INDEX sessions.ix_meter_values_connector")
    op.execute("DROP INDEX sessions.ix_meter_values_transaction")
    op.execute("ALTER TABLE sessions.meter_values_old DROP CONSTRAINT meter_values_pkey")


def upgrade() -> None:
    _set_aside_old_table()
    # Its identity sequence goes with it; the new table's sequence takes the name.
    op.execute("ALTER TABLE sessions.meter_values_old ALTER COLUMN id DROP IDENTITY")
    op.execute("CREATE SEQUENCE sessions.meter_values_id_seq")
    op.execute(CREATE)
    op.execute("ALTER SEQUENCE sessions.meter_values_id_seq OWNED BY sessions.meter_values.id")
    _create_indexes()
    # The months of the rows there are, this month and the next (the service keeps creating
    # months ahead from its start on).
    months = {
        row[0]
        for row in op.get_bind().execute(
            sa.text(
                "SELECT DISTINCT CAST(date_trunc('month', received_at AT TIME ZONE 'UTC') AS date)"
                " FROM sessions.meter_values_old"
            )
        )
    }
    this_month = datetime.now(UTC).date().replace(day=1)
    months |= {this_month, _next_month(this_month)}
    for start in sorted(months):
        _create_partition(start)
    op.execute(
        f"INSERT INTO sessions.meter_values ({COLUMNS})"
        f" SELECT {COLUMNS} FROM sessions.meter_values_old"
    )
    op.execute(
        "SELECT setval('sessions.meter_values_id_seq', coalesce(max(id), 0) + 1, false)"
        " FROM sessions.meter_values"
    )
    op.execute("DROP TABLE sessions.meter_values_old")


def downgrade() -> None:
    _set_aside_old_table()
    # The sequence belongs to the partitioned table; the plain table's identity takes the name.
    op.execute("ALTER TABLE sessions.meter_values_old ALTER COLUMN id DROP DEFAULT")
    op.execute("DROP SEQUENCE sessions.meter_values_id_seq")
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
    _create_indexes()
    op.execute(
        f"INSERT INTO sessions.meter_values ({COLUMNS})"
        f" SELECT {COLUMNS} FROM sessions.meter_values_old"
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('sessions.meter_values', 'id'),"
        " coalesce(max(id), 0) + 1, false) FROM sessions.meter_values"
    )
    # The partitioned table and every month partition with it.
    op.execute("DROP TABLE sessions.meter_values_old")

"""uq_transactions_start over 1.6 rows only

A re-sent 1.6 StartTransaction is known by its content (CP, connector, idTag, timestamp,
meterStart), which the unique constraint uq_transactions_start enforced over every row. A 2.0.1
transaction is known by the station's transactionId (uq_transactions_station), and two of them
may well share that content: two transactions on one EVSE, for an unknown token, started in the
same second at the same register reading. The second one's event then failed on the constraint,
so the station was refused it again and again. The key now holds over 1.6 rows only
(station_transaction_id IS NULL): an exclusion constraint of equalities, under the same name, the
only kind of constraint with a WHERE, so the INSERT of the release before (ON CONFLICT ON
CONSTRAINT uq_transactions_start DO NOTHING) still works during a rollout. Building it reads the
table once under a lock that holds writes back (about a second per million rows).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 21:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "sessions"
COLUMNS = ["charge_point_id", "connector_id", "id_tag", "start_time", "meter_start"]


def upgrade() -> None:
    op.drop_constraint("uq_transactions_start", "transactions", schema=S, type_="unique")
    op.execute(
        f"ALTER TABLE {S}.transactions ADD CONSTRAINT uq_transactions_start EXCLUDE USING btree"
        f" ({', '.join(f'{column} WITH =' for column in COLUMNS)})"
        " WHERE (station_transaction_id IS NULL)"
    )


def downgrade() -> None:
    # Fails if two 2.0.1 transactions share a start's content: they are two transactions, and
    # the older schema cannot hold both.
    op.drop_constraint("uq_transactions_start", "transactions", schema=S)
    op.create_unique_constraint("uq_transactions_start", "transactions", COLUMNS, schema=S)

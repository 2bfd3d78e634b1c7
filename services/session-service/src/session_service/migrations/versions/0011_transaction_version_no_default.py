"""A transaction's OCPP version has no default: every insert writes the version of the call
that opened it (1.6 StartTransaction, 2.0.1 TransactionEvent), never an assumed 1.6

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 18:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("transactions", "ocpp_version", server_default=None, schema="sessions")


def downgrade() -> None:
    op.alter_column("transactions", "ocpp_version", server_default="1.6", schema="sessions")

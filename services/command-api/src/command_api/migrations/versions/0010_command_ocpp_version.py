"""the OCPP version each command was checked against and sent in

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: commands recorded before 2.0.1 was spoken were all 1.6, but saying so would be
    # a guess about rows whose station may have been refused before any version was known.
    op.add_column("commands", sa.Column("ocpp_version", sa.String(8)), schema="commands")


def downgrade() -> None:
    op.drop_column("commands", "ocpp_version", schema="commands")

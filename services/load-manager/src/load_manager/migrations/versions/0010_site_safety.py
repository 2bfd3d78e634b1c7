"""schema loads: a limit in W no higher than 10,000 A per phase; when an EVSE's readings
turned implausible

A node's limit in W was taken up to 10^9 W: 1.4 million A per phase at 230 V, more than any
column of a site's samples holds, so every timer round of such a site failed. A limit is now at
most 10,000 A per phase (the bound of a limit in A) at its node's voltage and phases; a stored
one above it is lowered to it (still more than the connection carries, so nothing it allowed is
taken away). An EVSE whose readings are implausible (below 0, far above its maximum) keeps
when that began, for the one security event it raises.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOST_WATTS = "10000 * voltage * phases"


def upgrade() -> None:
    op.execute(
        f"UPDATE loads.nodes SET limit_watts = {MOST_WATTS}, updated_at = now()"
        f" WHERE limit_watts > {MOST_WATTS}"
    )
    op.create_check_constraint(
        "ck_nodes_limit_watts",
        "nodes",
        f"limit_watts IS NULL OR limit_watts <= {MOST_WATTS}",
        schema="loads",
    )
    op.add_column(
        "evse_allocations",
        sa.Column("implausible_since", sa.DateTime(timezone=True)),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_column("evse_allocations", "implausible_since", schema="loads")
    op.drop_constraint("ck_nodes_limit_watts", "nodes", schema="loads")

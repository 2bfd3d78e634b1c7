"""schema loads: sites as trees of nodes with limits, stations on nodes, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE loads.nodes_id_seq")
    op.create_table(
        "nodes",
        sa.Column(
            "id",
            sa.BigInteger,
            primary_key=True,
            server_default=sa.text("nextval('loads.nodes_id_seq')"),
        ),
        sa.Column("site_id", sa.BigInteger, sa.ForeignKey("loads.nodes.id"), nullable=False),
        sa.Column("parent_id", sa.BigInteger, sa.ForeignKey("loads.nodes.id")),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("limit_l1", sa.Numeric(6, 1)),
        sa.Column("limit_l2", sa.Numeric(6, 1)),
        sa.Column("limit_l3", sa.Numeric(6, 1)),
        sa.Column("limit_watts", sa.BigInteger),
        sa.Column("voltage", sa.SmallInteger, nullable=False, server_default=sa.text("230")),
        sa.Column("phases", sa.SmallInteger, nullable=False, server_default=sa.text("3")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("phases IN (1, 3)", name="ck_nodes_phases"),
        sa.CheckConstraint(
            "(limit_l1 IS NULL) <> (limit_watts IS NULL)", name="ck_nodes_one_limit"
        ),
        sa.CheckConstraint(
            "limit_l1 IS NULL OR (phases = 1 AND limit_l2 IS NULL AND limit_l3 IS NULL)"
            " OR (phases = 3 AND limit_l2 IS NOT NULL AND limit_l3 IS NOT NULL)",
            name="ck_nodes_limit_per_phase",
        ),
        sa.CheckConstraint("(parent_id IS NULL) = (site_id = id)", name="ck_nodes_root"),
        schema="loads",
    )
    op.execute("ALTER SEQUENCE loads.nodes_id_seq OWNED BY loads.nodes.id")
    op.create_index("nodes_site", "nodes", ["site_id"], schema="loads")
    op.create_index("nodes_parent", "nodes", ["parent_id"], schema="loads")
    op.execute(
        "CREATE UNIQUE INDEX nodes_sibling_name ON loads.nodes"
        " (coalesce(parent_id, 0), lower(name))"
    )
    op.create_table(
        "stations",
        sa.Column("charge_point_id", sa.String(48), primary_key=True),
        sa.Column("node_id", sa.BigInteger, sa.ForeignKey("loads.nodes.id"), nullable=False),
        sa.Column("site_id", sa.BigInteger, sa.ForeignKey("loads.nodes.id"), nullable=False),
        sa.Column("max_current", sa.Numeric(6, 1)),
        sa.Column("min_current", sa.Numeric(6, 1)),
        sa.Column("priority", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column(
            "assigned_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "min_current IS NULL OR max_current IS NULL OR min_current <= max_current",
            name="ck_stations_current",
        ),
        schema="loads",
    )
    op.create_index("stations_node", "stations", ["node_id"], schema="loads")
    op.create_index("stations_site", "stations", ["site_id"], schema="loads")
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="loads",
    )


def downgrade() -> None:
    op.drop_table("outbox", schema="loads")
    op.drop_table("stations", schema="loads")
    op.drop_table("nodes", schema="loads")

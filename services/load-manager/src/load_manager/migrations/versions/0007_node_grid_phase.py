"""schema loads: the grid phase a single-phase node is fed from

A single-phase node had no grid phase: its one limit held on each phase. Each one now gets
the grid phase most single-phase stations under it (directly or below) are on (the lowest of
equals; 1 with none), and so do the single-phase nodes and stations under it: one conductor
feeds them all. A three-phase station already under a single-phase node stays as it is; the
allocator counts it on the node's phase.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from collections import Counter, defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "(phases = 3 AND grid_phase IS NULL) OR (phases = 1 AND grid_phase BETWEEN 1 AND 3)"
nodes = sa.table(
    "nodes",
    sa.column("id", sa.BigInteger),
    sa.column("parent_id", sa.BigInteger),
    sa.column("phases", sa.SmallInteger),
    sa.column("grid_phase", sa.SmallInteger),
    schema="loads",
)
stations = sa.table(
    "stations",
    sa.column("node_id", sa.BigInteger),
    sa.column("phases", sa.SmallInteger),
    sa.column("grid_phase", sa.SmallInteger),
    schema="loads",
)


def upgrade() -> None:
    op.add_column("nodes", sa.Column("grid_phase", sa.SmallInteger), schema="loads")
    bind = op.get_bind()
    rows = bind.execute(sa.select(nodes.c.id, nodes.c.parent_id, nodes.c.phases)).all()
    phases = {row.id: row.phases for row in rows}
    children: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        if row.parent_id is not None:
            children[row.parent_id].append(row.id)
    on_node: dict[int, list[int]] = defaultdict(list)
    single = sa.select(stations.c.node_id, stations.c.grid_phase).where(stations.c.phases == 1)
    for station in bind.execute(single):
        on_node[station.node_id].append(station.grid_phase)
    for row in rows:
        if row.phases != 1 or (row.parent_id is not None and phases[row.parent_id] == 1):
            continue
        below = [row.id]
        for node in below:
            below.extend(children[node])
        seen = Counter(phase for node in below for phase in on_node[node])
        grid_phase = min(seen, key=lambda phase: (-seen[phase], phase)) if seen else 1
        bind.execute(
            nodes.update()
            .where(nodes.c.id.in_(below), nodes.c.phases == 1)
            .values(grid_phase=grid_phase)
        )
        bind.execute(
            stations.update()
            .where(stations.c.node_id.in_(below), stations.c.phases == 1)
            .values(grid_phase=grid_phase)
        )
    op.create_check_constraint("ck_nodes_grid_phase", "nodes", CHECK, schema="loads")


def downgrade() -> None:
    op.drop_constraint("ck_nodes_grid_phase", "nodes", schema="loads")
    op.drop_column("nodes", "grid_phase", schema="loads")

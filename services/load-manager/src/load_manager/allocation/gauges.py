"""Per-site gauges of the allocation, sampled from schema `loads` (csms_shared.samples): every
replica reports the same figures, whichever ran the rounds.

- `csms_site_limit_amps{site, phase}`: the site's (root node's) limit, A per phase (a limit in
  W as W / V / phases);
- `csms_site_allocated_amps{site, phase}`: the sum of the limits the last rounds gave the
  EVSEs drawing on that phase;
- `csms_site_drawn_amps{site}`: the sum of the EVSEs' last readings (each its highest phase,
  so an upper bound of any one phase's draw);
- `csms_loads_followed_stations`: the stations whose events the load-manager's queue is bound
  to (following.py).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from csms_shared.samples import Sampler

from ..db import evse_allocations, followed_stations, nodes, stations
from .store import node_limit

LIMIT = Gauge(
    "csms_site_limit_amps", "A site's grid connection limit, A per phase", ["site", "phase"]
)
ALLOCATED = Gauge(
    "csms_site_allocated_amps",
    "The sum of the limits given to a site's EVSEs drawing on a phase",
    ["site", "phase"],
)
DRAWN = Gauge("csms_site_drawn_amps", "The sum of a site's EVSEs' last current readings", ["site"])
FOLLOWED = Gauge(
    "csms_loads_followed_stations",
    "Stations whose transaction, status and meter events the load-manager's queue is bound to",
)
PHASES = ("L1", "L2", "L3")


def sites_sampler(engine: AsyncEngine) -> Sampler:
    """Every site's limit, allocation and draw, and the stations followed, in three queries."""
    a, s = evse_allocations.c, stations.c
    roots = select(nodes).where(nodes.c.parent_id.is_(None))
    evses = (
        select(s.site_id, s.phases, s.grid_phase, a.target, a.draw)
        .join(evse_allocations, a.charge_point_id == s.charge_point_id)
        .where(a.evse <= s.evses)
    )

    async def sample() -> None:
        async with engine.connect() as connection:
            sites = (await connection.execute(roots)).all()
            rows = (await connection.execute(evses)).all()
            followed = await connection.scalar(select(func.count()).select_from(followed_stations))
        FOLLOWED.set(followed or 0)
        allocated: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        drawn: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            site = str(row.site_id)
            on = PHASES if row.phases == 3 else (PHASES[(row.grid_phase or 1) - 1],)
            for phase in on:
                allocated[(site, phase)] += row.target or 0
            drawn[site] += row.draw or 0
        for root in sites:
            site, limit = str(root.id), node_limit(root)
            for phase, amps in zip(PHASES, (limit.l1, limit.l2, limit.l3), strict=True):
                LIMIT.labels(site, phase).set(float(amps))
                ALLOCATED.labels(site, phase).set(float(allocated[(site, phase)]))
            DRAWN.labels(site).set(float(drawn[site]))

    return sample

"""RPC methods on a site's allocation: what each node and EVSE is given now, and the site's
samples of the last hours."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from csms_shared.bus.access import COMMAND_API
from csms_shared.contracts.load_events import NodeAllocation
from csms_shared.contracts.resources_loads import SiteAllocation, SiteHistory, SiteSample
from csms_shared.contracts.rpc_loads import LoadsRpc, OfSite, SiteHistoryOf
from csms_shared.ocpp import json_number

from ..db import site_samples
from ..router import Ctx, router
from ..sites.store import tree_of
from .intake import now
from .store import load, node_limit
from .view import per_phase, view


@router.rpc(LoadsRpc.get_allocation, callers={COMMAND_API})
async def get_allocation(params: OfSite, ctx: Ctx) -> SiteAllocation:
    """The site's allocation as the last round left it, counted now (not_found: no such site)."""
    at = now()
    loaded = await load(ctx.session, ctx.settings, params.site_id)
    if loaded is None:
        # No station on it (or no such site: tree_of says which).
        tree = await tree_of(ctx.session, params.site_id)
        nodes = [
            NodeAllocation(
                node_id=row.id, limit_amps=per_phase(node_limit(row)), allocated_amps=[0, 0, 0]
            )
            for row in tree.rows.values()
        ]
        return SiteAllocation(site_id=params.site_id, at=at, nodes=nodes, evses=[])
    nodes, evses = view(loaded.state, loaded.targets, loaded.paused, at)
    return SiteAllocation(site_id=params.site_id, at=at, nodes=nodes, evses=evses)


@router.rpc(LoadsRpc.get_history, callers={COMMAND_API})
async def get_history(params: SiteHistoryOf, ctx: Ctx) -> SiteHistory:
    """The site's minute samples of the last `hours`, oldest first (not_found: no such site)."""
    await tree_of(ctx.session, params.site_id)  # not_found for no such site
    since = now() - timedelta(hours=params.hours)
    c = site_samples.c
    rows = await ctx.session.execute(
        select(site_samples).where(c.site_id == params.site_id, c.at >= since).order_by(c.at)
    )
    samples = [
        SiteSample(
            at=row.at,
            limit_amps=json_number(row.limit_amps),
            allocated_amps=json_number(row.allocated_amps),
            drawn_amps=json_number(row.drawn_amps),
        )
        for row in rows
    ]
    return SiteHistory(site_id=params.site_id, hours=params.hours, samples=samples)

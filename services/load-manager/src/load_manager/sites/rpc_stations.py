"""RPC methods on stations: put one on a node (with its settings), take it off, read where it
is, list a node's. A station under a single-phase node is single-phase, on the node's grid
phase."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from csms_shared.bus.access import COMMAND_API
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import Page, StationAssignment
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    ListNodeStations,
    LoadsRpc,
    OfStation,
    StationUnassigned,
)

from ..allocation.rounds import reallocate, release_station
from ..db import nodes, stations
from ..followed import follow
from ..profiles.managed import blocking
from ..profiles.store import SET, lock_station, profile_of, rows_of
from ..router import Ctx, router
from .store import lock_site, node_in, tree_of
from .tree import assignment, station_grid_phase

s = stations.c


@router.rpc(LoadsRpc.assign_station, callers={COMMAND_API})
async def assign_station(params: AssignStation, ctx: Ctx) -> StationAssignment:
    """Put a station on a node, off any node it was on; its settings replace those stored.
    RpcError conflict while it holds a stored profile that would take over the allocator's
    limit on a site (`managed_profiles`)."""
    cp_id = params.charge_point_id
    # The station's lock before the site's, as its events take them; a profile stored for it
    # meanwhile sees it on the site.
    await lock_station(ctx.session, cp_id)
    stored = [profile_of(row) for row in await rows_of(ctx.session, cp_id) if row.action == SET]
    if found := blocking(stored, ctx.settings):
        raise RpcError(
            "conflict",
            f"charge point {cp_id} holds stored profiles that would lift its EVSEs above a "
            f"site's share: {'; '.join(found)}; delete them first",
        )
    of_node = select(nodes).where(nodes.c.id == params.node_id)
    node = (await ctx.session.execute(of_node)).first()
    if node is not None:
        # In line with the changes to the site's tree: the node cannot go (or change phase)
        # while the station lands, and one deleted before the lock was taken is seen gone.
        await lock_site(ctx.session, node.site_id)
        node = (await ctx.session.execute(of_node)).first()
    if node is None:
        raise RpcError("invalid", f"nodeId: node {params.node_id} does not exist")
    site_id = node.site_id
    was_on = await ctx.session.scalar(
        select(s.site_id).where(s.charge_point_id == params.charge_point_id)
    )
    values = {
        "node_id": params.node_id,
        "site_id": site_id,
        "max_current": params.max_current,
        "min_current": params.min_current,
        "priority": params.priority,
        "evses": params.evses,
        "phases": params.phases,
        "grid_phase": station_grid_phase(node, params.phases, params.grid_phase),
    }
    if params.ocpp_version is not None:
        values["ocpp_version"] = params.ocpp_version.value
    insert_ = insert(stations).values(charge_point_id=params.charge_point_id, **values)
    row = (
        await ctx.session.execute(
            insert_.on_conflict_do_update(
                index_elements=[s.charge_point_id],
                set_={**values, "updated_at": func.now()},
            ).returning(stations)
        )
    ).one()
    # Its transaction, status and meter events reach us from the commit on (following.py).
    await follow(ctx, [params.charge_point_id])
    # Shared at once: its EVSEs count at their maximum until their first limit lands.
    await reallocate(ctx.session, ctx.settings, site_id)
    if was_on is not None and was_on != site_id:
        await reallocate(ctx.session, ctx.settings, was_on)
    return assignment(row)


@router.rpc(LoadsRpc.unassign_station, callers={COMMAND_API})
async def unassign_station(params: OfStation, ctx: Ctx) -> StationUnassigned:
    """Take a station off its node: it is on no site any more."""
    gone = (
        await ctx.session.execute(
            delete(stations)
            .where(s.charge_point_id == params.charge_point_id)
            .returning(s.site_id, s.evses, s.ocpp_version)
        )
    ).first()
    if gone is None:
        raise RpcError("not_found", f"charge point {params.charge_point_id} is on no site")
    await release_station(ctx.session, ctx.settings, params.charge_point_id, gone)
    await reallocate(ctx.session, ctx.settings, gone.site_id)
    return StationUnassigned(charge_point_id=params.charge_point_id, unassigned=True)


@router.rpc(LoadsRpc.get_station, callers={COMMAND_API})
async def get_station(params: OfStation, ctx: Ctx) -> StationAssignment:
    """Where a station is, and its settings."""
    row = (
        await ctx.session.execute(
            select(stations).where(s.charge_point_id == params.charge_point_id)
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"charge point {params.charge_point_id} is on no site")
    return assignment(row)


@router.rpc(LoadsRpc.list_node_stations, callers={COMMAND_API})
async def list_node_stations(params: ListNodeStations, ctx: Ctx) -> Page[StationAssignment]:
    """A page of the stations on one node (not those of the nodes under it)."""
    node_in(await tree_of(ctx.session, params.site_id), params.site_id, params.node_id)
    where = s.node_id == params.node_id
    total = await ctx.session.scalar(select(func.count()).select_from(stations).where(where))
    rows = await ctx.session.execute(
        select(stations)
        .where(where)
        .order_by(s.charge_point_id)
        .limit(params.limit)
        .offset(params.offset)
    )
    return Page[StationAssignment](
        items=[assignment(row) for row in rows],
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )

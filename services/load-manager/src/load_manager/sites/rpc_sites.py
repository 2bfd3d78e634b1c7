"""RPC methods on sites and their nodes: create, read, list, change (and move), delete.

Every change to a site's tree first locks the site's row, so changes to one site run one after
the other and each sees the tree the one before it left (no two moves closing a cycle).

Everything under a single-phase node is on its grid phase: a change of that phase (a new
`gridPhase`, a switch to one phase) carries the single-phase nodes and stations under it
along, and is refused while a three-phase station is under it."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from csms_shared.bus.access import COMMAND_API
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts import problems
from csms_shared.contracts.resources import Node, Page, Site
from csms_shared.contracts.rpc_base import Paged
from csms_shared.contracts.rpc_loads import (
    CreateNode,
    LoadsRpc,
    NodeChange,
    NodeDeleted,
    NodeSettings,
    OfNode,
    OfSite,
    SiteChange,
    UpdateNode,
    UpdateSite,
)

from ..allocation.rounds import reallocate
from ..db import node_ids, nodes, stations
from ..router import Ctx, router
from .store import lock_site, name_taken, node_in, node_resource, sites, tree_of
from .tree import (
    LimitColumns,
    SiteTree,
    check_children_phases,
    check_move,
    check_phases,
    grid_phase_under,
    limit_columns,
    limit_of,
)

n = nodes.c


class NodeColumns(LimitColumns):
    """A node's settings as `loads.nodes` stores them."""

    name: str
    voltage: int
    phases: int
    grid_phase: int | None


def _columns(settings: NodeSettings, grid_phase: int | None) -> NodeColumns:
    return {
        "name": settings.name,
        "voltage": settings.voltage,
        "phases": settings.phases,
        "grid_phase": grid_phase,
        **limit_columns(settings.limit_amps, settings.limit_watts),
    }


@router.rpc(LoadsRpc.create_site, callers={COMMAND_API})
async def create_site(params: NodeSettings, ctx: Ctx) -> Site:
    """Add a site: the root of a new tree, its limit the grid connection's."""
    site_id: int = (await ctx.session.execute(select(node_ids.next_value()))).scalar_one()
    grid_phase = None if params.phases == 3 else params.grid_phase or 1
    try:
        async with ctx.session.begin_nested():
            await ctx.session.execute(
                insert(nodes).values(id=site_id, site_id=site_id, **_columns(params, grid_phase))
            )
    except IntegrityError as exc:
        raise name_taken(exc, params.name, None) from None
    [site] = await sites(ctx.session, [site_id])
    return site


@router.rpc(LoadsRpc.get_site, callers={COMMAND_API})
async def get_site(params: OfSite, ctx: Ctx) -> Site:
    """A site with every node and station under it."""
    return await node_resource(ctx.session, params.site_id, params.site_id, Site)


@router.rpc(LoadsRpc.list_sites, callers={COMMAND_API})
async def list_sites(params: Paged, ctx: Ctx) -> Page[Site]:
    """A page of sites, by id, each whole."""
    total = await ctx.session.scalar(
        select(func.count()).select_from(nodes).where(n.parent_id.is_(None))
    )
    site_ids = (
        await ctx.session.scalars(
            select(n.id)
            .where(n.parent_id.is_(None))
            .order_by(n.id)
            .limit(params.limit)
            .offset(params.offset)
        )
    ).all()
    return Page[Site](
        items=await sites(ctx.session, site_ids),
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )


async def _change(ctx: Ctx, site_id: int, node_id: int, change: SiteChange) -> None:
    """Apply `change` to a node of the site (the site itself included), moving it if the
    change names another parent."""
    await lock_site(ctx.session, site_id)
    tree = await tree_of(ctx.session, site_id)
    row = node_in(tree, site_id, node_id)
    sent = change.model_fields_set
    amps, watts = limit_of(row)
    if sent & {"limit_amps", "limit_watts"}:
        amps, watts = change.limit_amps, change.limit_watts
    phases = row.phases if change.phases is None else change.phases
    grid_phase = change.grid_phase
    if grid_phase is None and phases == 1:
        grid_phase = row.grid_phase  # kept; none if it was three-phase
    try:
        # The node as it would be, checked as a new one is (a limit in A per phase for each of
        # its phases, after a change of either).
        merged = NodeSettings(
            name=row.name if change.name is None else change.name,
            limit_amps=amps,
            limit_watts=watts,
            voltage=row.voltage if change.voltage is None else change.voltage,
            phases=phases,
            grid_phase=grid_phase,
        )
    except ValidationError as exc:
        raise RpcError("invalid", problems(exc)) from None
    parent_id = row.parent_id
    if isinstance(change, NodeChange) and change.parent_id is not None:
        if row.parent_id is None:
            raise RpcError("invalid", f"parentId: node {node_id} is a site; a site has no parent")
        parent_id = change.parent_id
        _in_site(tree, site_id, parent_id)
        if parent_id != row.parent_id:
            check_move(tree, parent_id, node_id=node_id, max_depth=ctx.settings.max_tree_depth)
    if parent_id is not None:
        check_phases(tree, parent_id, merged.phases)
    check_children_phases(tree, node_id, merged.phases)
    fed = grid_phase_under(tree, parent_id, merged.phases, merged.grid_phase)
    if fed is not None and (row.phases, row.grid_phase) != (1, fed):
        await _rewire(ctx, tree, node_id, fed)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.execute(
                update(nodes)
                .where(n.id == node_id)
                .values(**_columns(merged, fed), parent_id=parent_id, updated_at=func.now())
            )
    except IntegrityError as exc:
        raise name_taken(exc, merged.name, parent_id) from None
    # A new limit is shared at once: reductions leave in this transaction.
    await reallocate(ctx.session, ctx.settings, site_id)


async def _rewire(ctx: Ctx, tree: SiteTree, node_id: int, grid_phase: int) -> None:
    """Put what is under a node now single-phase on `grid_phase` (its single-phase nodes and
    stations); RpcError invalid while a three-phase station is under it."""
    below = tree.below(node_id)
    s = stations.c
    three_phase = (
        await ctx.session.execute(
            select(s.charge_point_id, s.node_id)
            .where(s.node_id.in_(below), s.phases == 3)
            .order_by(s.charge_point_id)
            .limit(10)
        )
    ).all()
    if three_phase:
        listed = ", ".join(f"{cp} (node {on})" for cp, on in three_phase)
        raise RpcError(
            "invalid",
            f"phases: three-phase stations under node {node_id} ({listed}) cannot draw on the "
            f"one phase L{grid_phase}: make them single-phase or move them first",
        )
    await ctx.session.execute(
        update(nodes)
        .where(n.id.in_(below[1:]), n.phases == 1)
        .values(grid_phase=grid_phase, updated_at=func.now())
    )
    await ctx.session.execute(
        update(stations)
        .where(s.node_id.in_(below), s.phases == 1)
        .values(grid_phase=grid_phase, updated_at=func.now())
    )


def _in_site(tree: SiteTree, site_id: int, parent_id: int) -> None:
    if parent_id not in tree:
        raise RpcError(
            "invalid", f"parentId: site {site_id} has no node {parent_id}; nodes stay in their site"
        )


@router.rpc(LoadsRpc.update_site, callers={COMMAND_API})
async def update_site(params: UpdateSite, ctx: Ctx) -> Site:
    """Change a site's name, limit, voltage or phases."""
    await _change(ctx, params.site_id, params.site_id, params.change)
    return await node_resource(ctx.session, params.site_id, params.site_id, Site)


@router.rpc(LoadsRpc.update_node, callers={COMMAND_API})
async def update_node(params: UpdateNode, ctx: Ctx) -> Node:
    """Change a node, or move it (with what is under it) under another node of its site."""
    await _change(ctx, params.site_id, params.node_id, params.change)
    return await node_resource(ctx.session, params.site_id, params.node_id, Node)


@router.rpc(LoadsRpc.get_node, callers={COMMAND_API})
async def get_node(params: OfNode, ctx: Ctx) -> Node:
    """A node of a site, with its stations and the nodes under it."""
    return await node_resource(ctx.session, params.site_id, params.node_id, Node)


@router.rpc(LoadsRpc.create_node, callers={COMMAND_API})
async def create_node(params: CreateNode, ctx: Ctx) -> Node:
    """Add a circuit or panel under a node of the site."""
    site_id, parent_id = params.site_id, params.parent_id
    await lock_site(ctx.session, site_id)
    tree = await tree_of(ctx.session, site_id)
    if len(tree) >= ctx.settings.max_site_nodes:
        raise RpcError(
            "conflict",
            f"site {site_id} has {len(tree)} nodes, the most a site may have "
            "(LOADS_MAX_SITE_NODES)",
        )
    if parent_id not in tree:
        other = await ctx.session.scalar(select(n.site_id).where(n.id == parent_id))
        where = "does not exist" if other is None else f"is of site {other}"
        raise RpcError("invalid", f"parentId: node {parent_id} {where}, not of site {site_id}")
    check_move(tree, parent_id, node_id=None, max_depth=ctx.settings.max_tree_depth)
    check_phases(tree, parent_id, params.phases)
    grid_phase = grid_phase_under(tree, parent_id, params.phases, params.grid_phase)
    try:
        async with ctx.session.begin_nested():
            node_id = await ctx.session.scalar(
                insert(nodes)
                .values(site_id=site_id, parent_id=parent_id, **_columns(params, grid_phase))
                .returning(n.id)
            )
    except IntegrityError as exc:
        raise name_taken(exc, params.name, parent_id) from None
    assert node_id is not None
    return await node_resource(ctx.session, site_id, node_id, Node)


async def _delete(ctx: Ctx, site_id: int, node_id: int) -> NodeDeleted:
    await lock_site(ctx.session, site_id)
    tree = await tree_of(ctx.session, site_id)
    node_in(tree, site_id, node_id)
    what = "site" if node_id == site_id else "node"
    if children := tree.children.get(node_id):
        listed = ", ".join(str(child) for child in children[:10])
        raise RpcError(
            "conflict", f"{what} {node_id} has nodes under it ({listed}): delete them first"
        )
    placed = (
        await ctx.session.scalars(
            select(stations.c.charge_point_id)
            .where(stations.c.node_id == node_id)
            .order_by(stations.c.charge_point_id)
            .limit(10)
        )
    ).all()
    if placed:
        raise RpcError(
            "conflict",
            f"{what} {node_id} has stations ({', '.join(placed)}): move or unassign them first",
        )
    await ctx.session.execute(delete(nodes).where(n.id == node_id))
    return NodeDeleted(site_id=site_id, node_id=node_id, deleted=True)


@router.rpc(LoadsRpc.delete_site, callers={COMMAND_API})
async def delete_site(params: OfSite, ctx: Ctx) -> NodeDeleted:
    """Remove a site with no node and no station left on it."""
    return await _delete(ctx, params.site_id, params.site_id)


@router.rpc(LoadsRpc.delete_node, callers={COMMAND_API})
async def delete_node(params: OfNode, ctx: Ctx) -> NodeDeleted:
    """Remove a node with no node under it and no station on it."""
    return await _delete(ctx, params.site_id, params.node_id)

"""Reading sites from schema `loads`: a site's rows as a tree, the site as the API shows it, and
the lock that puts changes to one site in a line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import Node, Site

from ..db import nodes, stations
from .tree import SiteTree, resource

N = TypeVar("N", bound=Node)
n = nodes.c
s = stations.c


async def _no_site(session: AsyncSession, site_id: int) -> RpcError:
    """The not_found for a site id that names no site (a node of a site, or nothing)."""
    of = await session.scalar(select(n.site_id).where(n.id == site_id))
    if of is None:
        return RpcError("not_found", f"site {site_id} does not exist")
    return RpcError("not_found", f"site {site_id} does not exist (node {site_id} is of site {of})")


async def lock_site(session: AsyncSession, site_id: int) -> None:
    """Hold the site's row until the transaction ends: two changes to one site's tree (two
    moves that would each close a cycle with the other) happen one after the other.
    RpcError not_found for no such site."""
    query = select(n.id).where(n.id == site_id, n.parent_id.is_(None)).with_for_update()
    if await session.scalar(query) is None:
        raise await _no_site(session, site_id)


async def tree_of(session: AsyncSession, site_id: int) -> SiteTree:
    """The site's nodes; RpcError not_found for no such site."""
    rows = (await session.execute(select(nodes).where(n.site_id == site_id))).all()
    if not rows:
        raise await _no_site(session, site_id)
    return SiteTree(rows)


def node_in(tree: SiteTree, site_id: int, node_id: int) -> Any:
    """The row of node `node_id` of the site; RpcError not_found if the site has none."""
    if node_id not in tree:
        raise RpcError("not_found", f"site {site_id} has no node {node_id}")
    return tree.rows[node_id]


async def stations_by_node(session: AsyncSession, site_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The stations of these sites, by node, by charge point id."""
    found: dict[int, list[Any]] = defaultdict(list)
    rows = await session.execute(
        select(stations).where(s.site_id.in_(site_ids)).order_by(s.charge_point_id)
    )
    for row in rows:
        found[row.node_id].append(row)
    return found


async def node_resource(session: AsyncSession, site_id: int, node_id: int, model: type[N]) -> N:
    """A node of a site, with its stations and the nodes under it."""
    tree = await tree_of(session, site_id)
    node_in(tree, site_id, node_id)
    return resource(tree, node_id, await stations_by_node(session, [site_id]), model)


async def sites(session: AsyncSession, site_ids: Sequence[int]) -> list[Site]:
    """These sites, whole, in the order given (two reads, whatever their number)."""
    rows = (await session.execute(select(nodes).where(n.site_id.in_(site_ids)))).all()
    by_site: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_site[row.site_id].append(row)
    placed = await stations_by_node(session, site_ids)
    return [
        resource(SiteTree(by_site[site_id]), site_id, placed, Site)
        for site_id in site_ids
        if site_id in by_site
    ]


def name_taken(exc: IntegrityError, name: str, parent_id: int | None) -> RpcError:
    """The conflict a duplicate sibling name is; re-raises any other integrity error."""
    if "nodes_sibling_name" not in str(exc.orig):
        raise exc
    if parent_id is None:
        return RpcError("conflict", f"a site named {name!r} exists (names ignore case)")
    return RpcError("conflict", f"node {parent_id} has a node named {name!r} (names ignore case)")

"""Sites for load management (load-manager): a tree of nodes per site, each with its limit in A
per phase or in W, and the stations on them. Viewers read; operators change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response, status

from csms_shared.contracts.resources_loads import SiteAllocation, SiteHistory

# The bodies are the load-manager's RPC field groups (one model for both: the same checks).
from csms_shared.contracts.rpc import OfChargePoint, RegistryRpc
from csms_shared.contracts.rpc_base import BIGINT, Paged
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    CreateNode,
    ListNodeStations,
    LoadsRpc,
    NewNode,
    NodeChange,
    NodeSettings,
    OfNode,
    OfSite,
    OfStation,
    SiteChange,
    SiteHistoryOf,
    StationPlacement,
    UpdateNode,
    UpdateSite,
)
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from .. import problems
from ..models import Node, Page, Site, StationAssignment
from .deps import MAX_OFFSET, Operator, State, Viewer, api_router, call

router = api_router(404, 503, tags=["sites"])

SiteId = Annotated[int, Path(ge=1, le=BIGINT)]
NodeId = Annotated[int, Path(ge=1, le=BIGINT)]
CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


class NewSite(NodeSettings):
    """A site: its name, its grid connection's limit (`limitAmps` per phase or `limitWatts`),
    nominal voltage (230 V) and phases (3)."""


class NewSiteNode(NewNode):
    """A circuit or panel under `parentId`, a node of the site (the site's own id: directly
    under the site)."""


class SitePatch(SiteChange):
    """Fields given are set, fields left out stay; a limit given replaces the stored one."""


class NodePatch(NodeChange):
    """As for a site; `parentId` moves the node, with what is under it, within its site."""


class StationSite(StationPlacement):
    """The node the station is on (`nodeId`) and its settings, replacing those stored."""


@router.get("/sites", response_model=Page[Site])
async def list_sites(
    state: State, principal: Viewer, limit: Limit = 50, offset: Offset = 0
) -> Page[Site]:
    """Sites by id, each with its nodes and stations."""
    return await call(state, LoadsRpc.list_sites, Paged(limit=limit, offset=offset))


@router.post(
    "/sites",
    status_code=status.HTTP_201_CREATED,
    response_model=Site,
    responses=problems.responses(409),
)
async def create_site(state: State, principal: Operator, body: NewSite) -> Site:
    """Add a site (409 if a site has that name, in any case)."""
    return await call(state, LoadsRpc.create_site, body)


@router.get("/sites/{site_id}", response_model=Site)
async def get_site(state: State, principal: Viewer, site_id: SiteId) -> Site:
    """A site: its limit, the nodes under it, the stations on each."""
    return await call(state, LoadsRpc.get_site, OfSite(site_id=site_id))


@router.get("/sites/{site_id}/allocation", response_model=SiteAllocation)
async def get_allocation(state: State, principal: Viewer, site_id: SiteId) -> SiteAllocation:
    """What the allocator gives the site's EVSEs now: each node's limit and allocated amps per
    phase, each EVSE's limit, what it counts for, its session and last reading."""
    return await call(state, LoadsRpc.get_allocation, OfSite(site_id=site_id))


@router.get("/sites/{site_id}/allocation/history", response_model=SiteHistory)
async def get_history(
    state: State,
    principal: Viewer,
    site_id: SiteId,
    hours: Annotated[float, Query(gt=0, le=48, description="How far back")] = 6,
) -> SiteHistory:
    """The site's limit, allocation and draw (A on its busiest phase), one sample a minute,
    oldest first."""
    return await call(state, LoadsRpc.get_history, SiteHistoryOf(site_id=site_id, hours=hours))


@router.patch("/sites/{site_id}", response_model=Site, responses=problems.responses(409))
async def update_site(state: State, principal: Operator, site_id: SiteId, body: SitePatch) -> Site:
    """Change a site's name, limit, voltage or phases."""
    return await call(state, LoadsRpc.update_site, UpdateSite(site_id=site_id, change=body))


@router.delete(
    "/sites/{site_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems.responses(409),
)
async def delete_site(state: State, principal: Operator, site_id: SiteId) -> Response:
    """Remove a site (409 while a node or a station is on it)."""
    await call(state, LoadsRpc.delete_site, OfSite(site_id=site_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/sites/{site_id}/nodes",
    status_code=status.HTTP_201_CREATED,
    response_model=Node,
    responses=problems.responses(409),
)
async def create_node(
    state: State, principal: Operator, site_id: SiteId, body: NewSiteNode
) -> Node:
    """Add a circuit or panel under a node of the site (422 for a parent not of the site, 409
    for a name its siblings have)."""
    creating = CreateNode.model_validate({"site_id": site_id, **body.model_dump()})
    return await call(state, LoadsRpc.create_node, creating)


@router.get("/sites/{site_id}/nodes/{node_id}", response_model=Node)
async def get_node(state: State, principal: Viewer, site_id: SiteId, node_id: NodeId) -> Node:
    """A node of the site, with its stations and the nodes under it."""
    return await call(state, LoadsRpc.get_node, OfNode(site_id=site_id, node_id=node_id))


@router.patch(
    "/sites/{site_id}/nodes/{node_id}", response_model=Node, responses=problems.responses(409)
)
async def update_node(
    state: State, principal: Operator, site_id: SiteId, node_id: NodeId, body: NodePatch
) -> Node:
    """Change a node, or move it under another node of the site (422 for a move under itself
    or a node below it)."""
    changing = UpdateNode(site_id=site_id, node_id=node_id, change=body)
    return await call(state, LoadsRpc.update_node, changing)


@router.delete(
    "/sites/{site_id}/nodes/{node_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems.responses(409),
)
async def delete_node(
    state: State, principal: Operator, site_id: SiteId, node_id: NodeId
) -> Response:
    """Remove a node (409 while a node is under it or a station on it)."""
    await call(state, LoadsRpc.delete_node, OfNode(site_id=site_id, node_id=node_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sites/{site_id}/nodes/{node_id}/stations", response_model=Page[StationAssignment])
async def list_node_stations(
    state: State,
    principal: Viewer,
    site_id: SiteId,
    node_id: NodeId,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[StationAssignment]:
    """The stations on one node (not those of the nodes under it), by charge point id."""
    listing = ListNodeStations(site_id=site_id, node_id=node_id, limit=limit, offset=offset)
    return await call(state, LoadsRpc.list_node_stations, listing)


@router.put(
    "/charge-points/{id}/site", response_model=StationAssignment, responses=problems.responses(409)
)
async def assign_station(
    state: State, principal: Operator, cp_id: CpId, body: StationSite
) -> StationAssignment:
    """Put a CP on a node of a site (off any node it was on), with its settings: 404 for a CP
    the registry does not know, 422 for a node that does not exist, 409 while the CP holds a
    stored profile that would take the site allocator's place (a TxProfile, a TxDefaultProfile
    at the allocator's stack level or above)."""
    cp = await call(state, RegistryRpc.get_charge_point, OfChargePoint(id=cp_id))
    placing = AssignStation.model_validate(
        {"charge_point_id": cp_id, "ocpp_version": cp.ocpp_version, **body.model_dump()}
    )
    return await call(state, LoadsRpc.assign_station, placing)


@router.get("/charge-points/{id}/site", response_model=StationAssignment)
async def get_station_site(state: State, principal: Viewer, cp_id: CpId) -> StationAssignment:
    """The site and node a CP is on, and its settings (404 when it is on none)."""
    return await call(state, LoadsRpc.get_station, OfStation(charge_point_id=cp_id))


@router.delete("/charge-points/{id}/site", status_code=status.HTTP_204_NO_CONTENT)
async def unassign_station(state: State, principal: Operator, cp_id: CpId) -> Response:
    """Take a CP off its site (404 when it is on none)."""
    await call(state, LoadsRpc.unassign_station, OfStation(charge_point_id=cp_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)

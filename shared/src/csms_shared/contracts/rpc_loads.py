"""The load-manager's RPC methods (`LoadsRpc`): sites, their nodes, the stations on them.

A site is a tree of nodes: the site itself is the root (its limit is the grid connection's), a
circuit or panel is a node under another. Every node has a limit, in A per phase or in W, a
nominal voltage and 1 or 3 phases (a single-phase node: the grid phase it is fed from); a
station is on at most one node. The REST bodies of
command-api's `/sites` routes are the field groups below (`NodeSettings`, `NewNode`,
`SiteChange`, `NodeChange`, `StationPlacement`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..ocpp.version import OcppVersion
from .resources_base import Page, Resource
from .resources_loads import Node, Site, SiteAllocation, SiteHistory, StationAssignment
from .rpc_base import BIGINT, LOAD_MANAGER, ChargePointId, Paged, RpcMethod, RpcParams, Text100

NodeId = Annotated[int, Field(ge=1, le=BIGINT)]
# The most any limit or current is, A per phase: more than a low-voltage grid connection
# carries, and what schema `loads` holds (numeric(6,1) per node, station and EVSE; a site's
# samples, numeric(7,1)). A limit in W is held to it at its node's voltage and phases.
MAX_AMPS = 10_000
MAX_VOLTAGE = 1000
# The EVSEs (1.6 connectors) of one station the allocator shares among.
MAX_EVSES = 32
# OCPP gives a charging rate in A with one decimal.
Amps = Annotated[Decimal, Field(gt=0, le=MAX_AMPS, decimal_places=1)]
Watts = Annotated[int, Field(gt=0, le=MAX_AMPS * MAX_VOLTAGE * 3)]
Voltage = Annotated[int, Field(ge=50, le=MAX_VOLTAGE, description="Nominal phase-to-neutral, V")]
Phases = Literal[1, 3]
PhaseAmps = Annotated[
    list[Amps],
    Field(min_length=1, max_length=3, description="A per phase: L1, L2, L3 (one if 1 phase)"),
]
Priority = Annotated[int, Field(ge=-1000, le=1000, description="Higher first")]
GridPhase = Literal[1, 2, 3]


def check_limit(amps: list[Decimal] | None, watts: int | None, phases: int, voltage: int) -> None:
    """ValueError unless exactly one limit is given, a limit in A has one number per phase, and
    a limit in W is at most `MAX_AMPS` per phase at the node's voltage and phases."""
    if amps is None and watts is None:
        raise ValueError("a node needs a limit: limitAmps (A per phase) or limitWatts")
    if amps is not None and watts is not None:
        raise ValueError("limitAmps or limitWatts, not both")
    if amps is not None and len(amps) != phases:
        raise ValueError(
            f"limitAmps has one number per phase: {phases} for a {phases}-phase node, "
            f"not {len(amps)}"
        )
    most = MAX_AMPS * voltage * phases
    if watts is not None and watts > most:
        per_phase = watts // (voltage * phases)
        raise ValueError(
            f"limitWatts: {watts} W is {per_phase} A per phase at {voltage} V on {phases} "
            f"phase(s); a limit is at most {MAX_AMPS} A per phase ({most} W here)"
        )


class NodeSettings(RpcParams):
    """A node's name, its limit (A per phase, or W) and its supply."""

    name: Text100
    limit_amps: PhaseAmps | None = None
    limit_watts: Watts | None = None
    voltage: Voltage = 230
    phases: Phases = 3
    grid_phase: GridPhase | None = Field(
        default=None,
        description=(
            "A single-phase node's grid phase, the parent's phase it is fed from; the parent's "
            "on a single-phase parent, else 1, if not given"
        ),
    )

    @model_validator(mode="after")
    def _one_limit(self) -> NodeSettings:
        check_limit(self.limit_amps, self.limit_watts, self.phases, self.voltage)
        if self.phases == 3 and self.grid_phase is not None:
            raise ValueError("gridPhase is for a single-phase node (phases 1)")
        return self


class NewNode(NodeSettings):
    """A circuit or panel under a node of the site."""

    parent_id: NodeId


class SiteChange(RpcParams):
    """Fields given are set, fields left out stay; a limit given replaces the one stored, in
    whichever unit."""

    name: Text100 | None = None
    limit_amps: PhaseAmps | None = None
    limit_watts: Watts | None = None
    voltage: Voltage | None = None
    phases: Phases | None = None
    grid_phase: GridPhase | None = Field(
        default=None,
        description="A single-phase node's grid phase: what is under it moves onto it too",
    )

    @model_validator(mode="after")
    def _kept(self) -> SiteChange:
        for name in ("name", "voltage", "phases", "parent_id"):
            if name in self.model_fields_set and getattr(self, name) is None:
                field = type(self).model_fields[name]
                raise ValueError(f"{field.alias or name} cannot be cleared")
        limits = {"limit_amps", "limit_watts"} & self.model_fields_set
        if self.limit_amps is not None and self.limit_watts is not None:
            raise ValueError("limitAmps or limitWatts, not both")
        if limits and self.limit_amps is None and self.limit_watts is None:
            raise ValueError("a node keeps a limit: send limitAmps or limitWatts in its place")
        return self


class NodeChange(SiteChange):
    """As for a site; `parentId` moves the node (and what is under it) under another node of
    the same site."""

    parent_id: NodeId | None = None


class StationSettings(RpcParams):
    """What the allocator needs to know of a station beyond its node (all optional)."""

    max_current: Amps | None = Field(
        default=None, description="A per phase that one EVSE may draw at most"
    )
    min_current: Annotated[Decimal, Field(ge=0, le=MAX_AMPS, decimal_places=1)] | None = Field(
        default=None, description="A per phase below which a session is paused, not starved"
    )
    priority: Priority = 0
    evses: int = Field(
        default=1,
        ge=1,
        le=MAX_EVSES,
        description="EVSEs (1.6 connectors 1..n) the allocator shares among",
    )
    phases: Phases = Field(default=3, description="Phases each EVSE draws on")
    grid_phase: GridPhase | None = Field(
        default=None,
        description=(
            "A single-phase station's grid phase (rotation applied); if not given, its "
            "single-phase node's, else 1"
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> StationSettings:
        low, high = self.min_current, self.max_current
        if low is not None and high is not None and low > high:
            raise ValueError("minCurrent is above maxCurrent")
        if self.phases == 3 and self.grid_phase is not None:
            raise ValueError("gridPhase is for a single-phase station (phases 1)")
        return self


class StationPlacement(StationSettings):
    """The node a station is on, and its settings (replacing what was stored)."""

    node_id: NodeId


# -- params ----------------------------------------------------------------------------------


class OfSite(RpcParams):
    """One site, by id."""

    site_id: NodeId


class OfNode(OfSite):
    """One node of a site."""

    node_id: NodeId


class SiteHistoryOf(OfSite):
    """A site's samples over the last `hours`."""

    hours: float = Field(default=6, gt=0, le=48)


class UpdateSite(OfSite):
    """Change a site's own settings."""

    change: SiteChange


class CreateNode(OfSite, NewNode):
    """Add a node under a node of the site."""


class UpdateNode(OfNode):
    """Change a node, or move it within its site."""

    change: NodeChange


class OfStation(RpcParams):
    """One station, by charge point id."""

    charge_point_id: ChargePointId


class AssignStation(OfStation, StationPlacement):
    """Put a station on a node (off the one it was on)."""

    ocpp_version: OcppVersion | None = Field(
        default=None, description="The version it last spoke, as the registry knows it"
    )


class ListNodeStations(Paged, OfNode):
    """A page of the stations on one node, by charge point id."""


# -- results no REST resource shows -------------------------------------------------------


class NodeDeleted(Resource):
    """A node (or a whole site) left its tree."""

    site_id: int
    node_id: int
    deleted: bool


class StationUnassigned(Resource):
    """A station is on no site any more."""

    charge_point_id: str
    unassigned: bool


# -- the catalogue ---------------------------------------------------------------------------


class LoadsRpc:
    """The load-manager's RPC methods."""

    list_sites = RpcMethod("sites.list", LOAD_MANAGER, Paged, Page[Site])
    get_site = RpcMethod("sites.get", LOAD_MANAGER, OfSite, Site)
    create_site = RpcMethod("sites.create", LOAD_MANAGER, NodeSettings, Site)
    update_site = RpcMethod("sites.update", LOAD_MANAGER, UpdateSite, Site)
    delete_site = RpcMethod("sites.delete", LOAD_MANAGER, OfSite, NodeDeleted)
    get_node = RpcMethod("nodes.get", LOAD_MANAGER, OfNode, Node)
    create_node = RpcMethod("nodes.create", LOAD_MANAGER, CreateNode, Node)
    update_node = RpcMethod("nodes.update", LOAD_MANAGER, UpdateNode, Node)
    delete_node = RpcMethod("nodes.delete", LOAD_MANAGER, OfNode, NodeDeleted)
    assign_station = RpcMethod("stations.assign", LOAD_MANAGER, AssignStation, StationAssignment)
    unassign_station = RpcMethod("stations.unassign", LOAD_MANAGER, OfStation, StationUnassigned)
    get_station = RpcMethod("stations.get", LOAD_MANAGER, OfStation, StationAssignment)
    get_allocation = RpcMethod("sites.allocation", LOAD_MANAGER, OfSite, SiteAllocation)
    get_history = RpcMethod("sites.history", LOAD_MANAGER, SiteHistoryOf, SiteHistory)
    list_node_stations = RpcMethod(
        "stations.list", LOAD_MANAGER, ListNodeStations, Page[StationAssignment]
    )

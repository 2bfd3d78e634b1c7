"""The load-manager's resources: sites as trees of nodes with their limits, and the stations
placed on them (see `resources.py`)."""

from __future__ import annotations

from pydantic import Field

from .load_events import EvseAllocation, NodeAllocation
from .resources_base import DateTime, Number, Omit, Resource


class StationAssignment(Resource):
    """A station on a node of a site, with what the allocator needs to know of it."""

    charge_point_id: str
    site_id: int
    node_id: int
    max_current: Omit[Number] = Field(
        default=None, description="A per phase that one EVSE of the station may draw at most"
    )
    min_current: Omit[Number] = Field(
        default=None, description="A per phase below which a session is paused, not starved"
    )
    priority: int = Field(description="Higher first when there is not enough for everyone")
    evses: int = Field(description="EVSEs (1.6 connectors 1..n) the allocator shares among")
    phases: int = Field(description="Phases each EVSE draws on: 1 or 3")
    grid_phase: Omit[int] = Field(
        default=None, description="A single-phase station's grid phase, 1..3"
    )
    assigned_at: DateTime
    updated_at: DateTime


class Node(Resource):
    """A node of a site's tree: the site itself (no `parentId`) or a circuit or panel under it,
    with its limit, the stations on it and the nodes under it.

    A node's limit may exceed its parent's (a 63 A panel on a 50 A connection): what its
    stations may draw is held to the tightest limit on the way up to the site."""

    id: int
    site_id: int
    parent_id: Omit[int] = None
    name: str
    limit_amps: Omit[list[Number]] = Field(
        default=None, description="A per phase: L1, L2, L3 (one number on a single-phase node)"
    )
    limit_watts: Omit[int] = Field(default=None, description="W, every phase together")
    voltage: int = Field(description="Nominal phase-to-neutral voltage, V")
    phases: int = Field(description="1 or 3")
    grid_phase: Omit[int] = Field(
        default=None,
        description="A single-phase node's grid phase, 1..3: everything under it draws on it",
    )
    stations: list[StationAssignment] = Field(description="Stations on this node itself")
    nodes: list[Node] = Field(description="The nodes under this one")
    created_at: DateTime
    updated_at: DateTime


class Site(Node):
    """A site: the root node of its tree (its limit is the grid connection's), with every node
    and station under it."""


class SiteAllocation(Resource):
    """What the allocator gives a site's EVSEs now: each node's limit and allocated amps per
    phase, each EVSE's limit, what it counts for, its session and last reading."""

    site_id: int
    at: DateTime
    nodes: list[NodeAllocation]
    evses: list[EvseAllocation]


class SiteSample(Resource):
    """A site's minute: its limit, what its EVSEs counted for and what they drew, A on its
    busiest phase."""

    at: DateTime
    limit_amps: Number
    allocated_amps: Number
    drawn_amps: Number


class SiteHistory(Resource):
    """A site's samples over the last hours, oldest first."""

    site_id: int
    hours: float
    samples: list[SiteSample]

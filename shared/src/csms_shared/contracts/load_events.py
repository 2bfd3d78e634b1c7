"""Events of the load-manager: a site's allocation after a round that changed it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .event_base import Event
from .resources_base import Number, Omit, Resource


class NodeAllocation(Resource):
    """A node of the site: its limit and what its EVSEs count for, A per phase (L1, L2, L3)."""

    node_id: int
    limit_amps: list[Number]
    allocated_amps: list[Number] = Field(
        description="The sum of what its EVSEs count for: the limit each holds, or a change in"
        " flight, or its maximum while its limit is unknown"
    )


class EvseAllocation(Resource):
    """One EVSE's share: the limit the round gave it and what it counts for now."""

    charge_point_id: str
    evse: int = Field(description="The EVSE (a 1.6 connector)")
    limit: Number = Field(description="A per phase the round gave it (0: paused or idle)")
    counted: Number = Field(description="A per phase it counts for until its answer lands")
    charging: bool = Field(description="A transaction is running on it")
    paused: bool = Field(description="Its session's minimum did not fit: held at 0 A")
    suspended: bool = Field(
        default=False,
        description="Its EV suspended itself (1.6 SuspendedEV, 2.0.1 chargingState"
        " SuspendedEV): held at its minimum until it charges again",
    )
    drawn: Omit[Number] = Field(default=None, description="Its last reading, A (highest phase)")


class SiteAllocationChanged(Event):
    """A round changed what a site's EVSEs are given (sent limits, or answers landed)."""

    emitter = "load-manager"

    event: Literal["site.allocation_changed"] = "site.allocation_changed"
    site_id: int
    nodes: list[NodeAllocation]
    evses: list[EvseAllocation]

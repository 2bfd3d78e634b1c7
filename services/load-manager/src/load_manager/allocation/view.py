"""A site's allocation as the bus and the API show it: each node's limit and what its EVSEs
count for, each EVSE's limit, count, session, pause, suspension and draw."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal

from csms_shared.contracts.load_events import EvseAllocation, NodeAllocation
from csms_shared.ocpp import json_number

from .core import EvseId, PhaseAmps, SiteState, counted, node_loads


def per_phase(amps: PhaseAmps) -> list[int | float]:
    """L1, L2, L3."""
    return [json_number(amps.l1), json_number(amps.l2), json_number(amps.l3)]


def view(
    state: SiteState,
    targets: Mapping[EvseId, Decimal | None],
    paused: AbstractSet[EvseId],
    now: datetime,
) -> tuple[list[NodeAllocation], list[EvseAllocation]]:
    """The nodes and EVSEs of a site at `now`, given the last round's targets and pauses."""
    loads = node_loads(state, now)
    nodes = [
        NodeAllocation(
            node_id=int(node_id),
            limit_amps=per_phase(node.limit),
            allocated_amps=per_phase(loads[node_id]),
        )
        for node_id, node in state.site.nodes.items()
    ]
    evses = [
        EvseAllocation(
            charge_point_id=evse.station,
            evse=evse.evse,
            limit=json_number(targets.get(evse) or Decimal(0)),
            counted=json_number(counted(state, evse, now)),
            charging=live.session is not None,
            paused=evse in paused,
            suspended=live.session is not None and live.session.suspended_by_ev,
            drawn=None if live.draw is None else json_number(live.draw),
        )
        for evse, live in sorted(state.evses.items())
    ]
    return nodes, evses

"""The allocator's pure core: a site's state in, the limits to send (and when) out.

No I/O and no clock: the service keeps a `SiteState`, feeds it what happens as events with
their times (`state = apply(state, event)`), and after each asks `plan(state, now)` what to
send. Tests drive the same functions with made-up times.

    state = SiteState.start(Site.build(nodes, stations, evses), AllocatorSettings())
    state = apply(state, SessionStarted(EvseId("CP-1", 1), at=now))
    round_ = plan(state, now)
    for change in round_.to_send:                  # reductions first, then ready raises
        command_path.send(change.evse, change.limit)
        state = apply(state, Sent(change.evse, change.limit, at=now))
    # later, per send: Acknowledged / Rejected / Undelivered / TimedOut, then plan again

Model (`site`): a tree of `Node`s, each with a limit in amps per phase (`amps(...)`, or
`watts(...)`: W / V / 3 per phase at the phase-to-neutral voltage, or W / V on one phase);
`Station`s on nodes; `Evse`s on stations, drawing on a set of grid phases (rotation applied)
between `min_current` and `max_current`. A single-phase node (`phases={Phase.L2}`) has its
limit on that phase alone, and everything under it draws there, its parent seeing it so. A
limit is amps per phase, a multiple of 0.1 A.

Accounting (`accounting`), the invariant everything rests on: every EVSE counts at
max(applied, in flight), at its maximum while unresponsive (timed out, booted, never
acknowledged), and, when its station is offline, at that until `offline_grace`, then at its
maximum. Idle EVSEs count at the standby limit they hold: the limit is one value per EVSE
that does not change when a session starts or stops, so the service sends it as a
TxDefaultProfile on that EVSE. Sends made per plan never take a node phase over its limit:
reductions do not lower what an EVSE counts for until acknowledged, and a raise is sent only
if it fits with every EVSE counted so. Only things outside the allocator's control lift a
sum over a limit: an operator lowering it, a station booting or timing out (now counted at
its maximum), an offline station passing its grace. Then the plan reduces at once, raises
nothing under that node, and its targets fit again (`Plan.targets`), unless the EVSEs it
cannot reach (offline, in flight, waiting to retry) take more than the limit by themselves;
those under it are then all targeted at 0.

Sharing (`sharing`): equal shares among sessions wherever they compete, per node and phase,
respecting every ancestor's limit (max-min fairness); a session whose minimum does not fit
is paused at 0 A, lowest priority first, then the latest arrival. A session's priority is
its station's plus its id tag's chargingPriority (`SiteState.priority`). Priority is strict: a
higher one is served up to what it wants before a lower one gets more than its minimum. A
session wants its maximum; a SuspendedEV one its minimum; one drawing more than `headroom`
under its allowance for `underuse_after`, its draw + headroom, until a reading comes within
half the headroom of that cap. Idle EVSEs keep the standby limit they hold where what the
sessions leave allows it, each at most its failsafe share (`failsafe_shares`: each node
phase's limit split evenly among every EVSE drawing on it, 0 if under the EVSE's minimum), so
at boot every EVSE gets its safe share; where it is short, the fewest idle EVSEs give back
(the one holding most first, down to its minimum, then 0), and room left raises them again in
a fixed order (`sharing`, 3). Limits are multiples of 0.1 A: shares are rounded down and what that
leaves is handed out 0.1 A at a time in a fixed order.

Planning (`planning`): lower before raise and the send threshold; see `plan`.

What a station says is taken only as far as it can be true: a reading below 0 or above
`reading_factor` times the EVSE's maximum is ignored (`plausible`), the EVSE marked
`implausible_since`, so nothing a station sends moves a share or overflows what is kept of it.
A station's return (a connection or a boot) ends the retry delay of its EVSEs.
"""

from .accounting import controllable, counted, failsafe_shares, node_loads
from .events import (
    Acknowledged,
    Event,
    LimitChanged,
    MeterRead,
    Rejected,
    Sent,
    SessionStarted,
    SessionStopped,
    StationBooted,
    StationOffline,
    StationOnline,
    StatusChanged,
    StatusReported,
    Tick,
    TimedOut,
    Undelivered,
    apply,
    plausible,
)
from .planning import Change, Deferred, Plan, plan
from .site import THREE_PHASE, Evse, EvseId, Node, Phase, PhaseAmps, Site, Station, amps, watts
from .state import EARLY_REPORT_WINDOW, AllocatorSettings, EvReport, EvseState, Session, SiteState

__all__ = [
    "EARLY_REPORT_WINDOW",
    "THREE_PHASE",
    "Acknowledged",
    "AllocatorSettings",
    "Change",
    "Deferred",
    "EvReport",
    "Event",
    "Evse",
    "EvseId",
    "EvseState",
    "LimitChanged",
    "MeterRead",
    "Node",
    "Phase",
    "PhaseAmps",
    "Plan",
    "Rejected",
    "Sent",
    "Session",
    "SessionStarted",
    "SessionStopped",
    "Site",
    "SiteState",
    "Station",
    "StationBooted",
    "StationOffline",
    "StationOnline",
    "StatusChanged",
    "StatusReported",
    "Tick",
    "TimedOut",
    "Undelivered",
    "amps",
    "apply",
    "controllable",
    "counted",
    "failsafe_shares",
    "node_loads",
    "plan",
    "plausible",
    "watts",
]

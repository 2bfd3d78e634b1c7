"""The allocator's invariant under random sites and random histories (hypothesis, stateful).

The machine plays a well-behaved caller and the stations. After every step it takes the
round's plan and sends its reductions, then its ready raises; stations answer later, in any
order, or never (a timeout, with the limit applied or not), or the send never reaches an
offline station (undelivered). Alongside, it keeps its own books:

- `physical`: the limit each station really enforces (its maximum until one lands);
- an accounting oracle, written from the caller's side (last acknowledged limit, the one in
  flight, timeouts, boots, offline times), independent of the allocator's own.

Properties (the transient of a lowered limit stated honestly):
(a) every station's real limit is at most what it is counted for; the allocator counts
    exactly what the oracle does; no send the plan asks for ever takes a node phase's sum
    over its limit, or raises it while it is over; only an outside event (a lower limit, a
    boot, a timeout, time passing an offline grace) makes a sum exceed a limit; the targets
    always fit, unless the EVSEs the round cannot move exceed the limit alone, and then every
    movable EVSE under it is targeted at 0; once the stations answer, the site settles
    within the limits in a few rounds;
(b) every limit sent is 0 or between the EVSE's minimum and maximum, and a session not
    paused is targeted at its minimum or more;
(c) a raise is sent only if it fits with every reduction still in flight counted at its old
    value, and a deferred raise names the reductions it waits for.

A station offline for less than the grace is trusted to keep its profiles (the issue's rule);
a reboot is announced (BootNotification).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from load_manager.allocation.core import (
    THREE_PHASE,
    Acknowledged,
    AllocatorSettings,
    Event,
    Evse,
    EvseId,
    LimitChanged,
    MeterRead,
    Node,
    Phase,
    PhaseAmps,
    Plan,
    Rejected,
    Sent,
    SessionStarted,
    SessionStopped,
    Site,
    SiteState,
    Station,
    StationBooted,
    StationOffline,
    StationOnline,
    StatusChanged,
    StatusReported,
    Tick,
    TimedOut,
    Undelivered,
    amps,
    apply,
    plan,
    watts,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
Key = tuple[str, Phase]


def tenths(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amps between low and high, in steps of 0.1 A."""
    return st.integers(low * 10, high * 10).map(lambda n: Decimal(n) / 10)


limits = st.one_of(
    st.builds(amps, st.integers(0, 120), st.integers(0, 120), st.integers(0, 120)),
    st.builds(amps, st.integers(0, 120)),
    st.builds(
        watts,
        st.integers(0, 80_000),
        st.sampled_from([230, 120]),
        st.one_of(st.none(), st.sampled_from(Phase)),
    ),
)


@st.composite
def sites(draw: st.DrawFn) -> Site:
    """A root with up to four nested nodes, some single-phase (fed from one grid phase: under a
    single-phase node, its), one to five stations, one or two EVSEs each, on any phases (under
    a single-phase node they draw on its phase whatever they declare)."""
    one_phase = st.sampled_from([frozenset({p}) for p in Phase])
    nodes = [Node("n0", None, draw(limits), draw(st.one_of(st.just(THREE_PHASE), one_phase)))]
    for i in range(1, draw(st.integers(1, 5))):
        parent = draw(st.sampled_from(nodes))
        phases = parent.phases
        if phases == THREE_PHASE:
            phases = draw(st.one_of(st.just(THREE_PHASE), one_phase))
        nodes.append(Node(f"n{i}", parent.id, draw(limits), phases))
    stations, evses = [], []
    for i in range(draw(st.integers(1, 5))):
        node = draw(st.sampled_from([n.id for n in nodes]))
        stations.append(Station(f"S{i}", node, priority=draw(st.integers(0, 2))))
        for number in range(1, draw(st.integers(1, 2)) + 1):
            minimum = draw(st.sampled_from([Decimal(0), Decimal(6), Decimal(6), Decimal(10)]))
            maximum = draw(tenths(10, 63)) if minimum else draw(tenths(1, 63))
            phases = draw(st.sampled_from([THREE_PHASE, *(frozenset({p}) for p in Phase)]))
            evses.append(Evse(EvseId(f"S{i}", number), max(maximum, minimum), minimum, phases))
    return Site.build(nodes, stations, evses)


allocator_settings = st.builds(
    AllocatorSettings,
    threshold=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1), Decimal(3)]),
    offline_grace=st.sampled_from([timedelta(seconds=60), timedelta(seconds=300)]),
    retry_after=st.sampled_from([timedelta(seconds=30), timedelta(seconds=90)]),
    underuse_after=st.sampled_from([timedelta(seconds=60), timedelta(seconds=300)]),
    headroom=st.sampled_from([Decimal(1), Decimal(2)]),
)


class Allocation(RuleBasedStateMachine):
    """A caller and its stations around the allocator, with books of their own."""

    @initialize(site=sites(), knobs=allocator_settings)
    def build(self, site: Site, knobs: AllocatorSettings) -> None:
        self.state = SiteState.start(site, knobs)
        self.knobs = knobs
        self.now = T0
        self.specs: Mapping[EvseId, Evse] = site.evses
        self.limits: dict[str, PhaseAmps] = {n.id: n.limit for n in site.nodes.values()}
        self.uses = {evse: self._uses(site, spec) for evse, spec in site.evses.items()}
        self.physical = {evse: spec.max_current for evse, spec in site.evses.items()}
        self.known: dict[EvseId, Decimal | None] = dict.fromkeys(site.evses)
        self.pending: dict[EvseId, Decimal] = {}
        self.failed_at: dict[EvseId, datetime] = {}
        self.offline: dict[str, datetime] = {}
        self.sessions: set[EvseId] = set()
        self._round()

    @staticmethod
    def _uses(site: Site, spec: Evse) -> list[Key]:
        """The node phases an EVSE draws through: its own phases, or, under a single-phase
        node, that node's one phase, on every node up to the root."""
        node: str | None = site.stations[spec.id.station].node
        path = []
        phases = spec.phases
        while node is not None:
            path.append(node)
            if len(site.nodes[node].phases) == 1:
                phases = site.nodes[node].phases
            node = site.nodes[node].parent
        return [(n, p) for n in path for p in phases]

    # The oracle's books.

    def counted(self, evse: EvseId) -> Decimal:
        maximum = self.specs[evse].max_current
        since = self.offline.get(evse.station)
        if since is not None and self.now - since > self.knobs.offline_grace:
            return maximum
        known = self.known[evse]
        if known is None:
            return maximum
        return max(known, self.pending.get(evse, known))

    def movable(self, evse: EvseId) -> bool:
        failed = self.failed_at.get(evse)
        return (
            evse.station not in self.offline
            and evse not in self.pending
            and (failed is None or self.now - failed >= self.knobs.retry_after)
        )

    def limit(self, key: Key) -> Decimal:
        return self.limits[key[0]].on(key[1])

    def sums(self, values: Mapping[EvseId, Decimal]) -> dict[Key, Decimal]:
        totals: dict[Key, Decimal] = {}
        for evse, value in values.items():
            for key in self.uses[evse]:
                totals[key] = totals.get(key, Decimal(0)) + value
        return totals

    def counted_sums(self) -> dict[Key, Decimal]:
        return self.sums({evse: self.counted(evse) for evse in self.specs})

    def feed(self, event: Event, before: Mapping[Key, Decimal], outside: bool) -> None:
        """Apply an event the books already reflect; unless it is an outside event, no sum may
        have gone over its limit (or further over) by it. Then run a round."""
        self.state = apply(self.state, event)
        if not outside:
            for key, total in self.counted_sums().items():
                assert total <= self.limit(key) or total <= before.get(key, Decimal(0)), key
        self._round()

    # A round, as a well-behaved caller runs it.

    def _round(self) -> Plan:
        round_ = plan(self.state, self.now)
        counted = {evse: self.counted(evse) for evse in self.specs}
        assert dict(round_.counted) == counted
        self._check_targets(round_)
        totals = self.sums(counted)
        for change in round_.reductions:
            assert change.limit < counted[change.evse] or (
                change.limit == counted[change.evse] and self.known[change.evse] is None
            )
            self._send(change.evse, change.limit)
        for change in round_.raises:
            extra = change.limit - counted[change.evse]
            assert extra > 0
            for key in self.uses[change.evse]:
                assert totals[key] + extra <= self.limit(key), (change, key)
                totals[key] += extra
            self._send(change.evse, change.limit)
        for deferred in round_.deferred:
            assert deferred.blocked_by
            for blocker in deferred.blocked_by:
                assert counted[blocker] > round_.targets[blocker]
        return round_

    def _check_targets(self, round_: Plan) -> None:
        targets = round_.targets
        for key, total in self.sums(targets).items():
            if total > self.limit(key):
                movable = [e for e in self.specs if key in self.uses[e] and self.movable(e)]
                assert all(targets[e] == 0 for e in movable), key
        assert round_.paused <= self.sessions
        for evse, spec in self.specs.items():
            if not self.movable(evse):
                continue
            target = targets[evse]
            assert target == 0 or spec.min_current <= target <= spec.max_current
            if evse in round_.paused:
                assert target == 0
            elif evse in self.sessions:
                assert target >= spec.min_current

    def _send(self, evse: EvseId, limit: Decimal) -> None:
        spec = self.specs[evse]
        assert limit == 0 or spec.min_current <= limit <= spec.max_current
        assert self.movable(evse)
        self.pending[evse] = limit
        self.state = apply(self.state, Sent(evse, limit, self.now))

    # What happens to the site.

    def _pick(self, data: st.DataObject, items: Iterable[EvseId]) -> EvseId:
        return data.draw(st.sampled_from(sorted(items)))

    @rule(data=st.data(), priority=st.integers(-9, 9))
    def arrive(self, data: st.DataObject, priority: int) -> None:
        evse = self._pick(data, self.specs)
        before = self.counted_sums()
        self.sessions.add(evse)
        self.feed(SessionStarted(evse, self.now, priority), before, outside=False)

    @precondition(lambda self: self.sessions)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        evse = self._pick(data, self.sessions)
        before = self.counted_sums()
        self.sessions.discard(evse)
        self.feed(SessionStopped(evse, self.now), before, outside=False)

    @rule(data=st.data(), suspended=st.booleans(), by_status=st.booleans())
    def suspend_or_resume(self, data: st.DataObject, suspended: bool, by_status: bool) -> None:
        """A car's state, on an EVSE with a session or (its start still on its way) without:
        its transaction's, or its EVSE's own status (`by_status`)."""
        evse = self._pick(data, self.specs)
        told = StatusReported if by_status else StatusChanged
        self.feed(told(evse, suspended, self.now), self.counted_sums(), outside=False)

    @rule(data=st.data(), percent=st.integers(0, 100))
    def meter(self, data: st.DataObject, percent: int) -> None:
        """A reading: the car draws some part of what the station really allows."""
        evse = self._pick(data, self.specs)
        draw = self.physical[evse] * percent / 100
        self.feed(MeterRead(evse, draw, self.now), self.counted_sums(), outside=False)

    @rule(data=st.data(), limit=limits)
    def change_limit(self, data: st.DataObject, limit: PhaseAmps) -> None:
        node = data.draw(st.sampled_from(sorted(self.limits)))
        before = self.counted_sums()
        self.limits[node] = limit
        self.feed(LimitChanged(node, limit, self.now), before, outside=True)

    @precondition(lambda self: self.pending)
    @rule(
        data=st.data(),
        outcome=st.sampled_from(["ack", "reject", "undelivered", "applied-lost", "lost"]),
    )
    def answer(self, data: st.DataObject, outcome: str) -> None:
        self._answer(self._pick(data, self.pending), outcome)

    def _answer(self, evse: EvseId, outcome: str) -> None:
        before = self.counted_sums()
        limit = self.pending.pop(evse)
        event: Event
        if outcome == "ack":
            self.known[evse] = self.physical[evse] = limit
            self.failed_at.pop(evse, None)
            event = Acknowledged(evse, self.now)
        elif outcome == "reject":
            self.failed_at[evse] = self.now
            event = Rejected(evse, self.now)
        elif outcome == "undelivered":
            # It never reached the station, which is offline from now: nothing applied.
            self.offline.setdefault(evse.station, self.now)
            event = Undelivered(evse, self.now)
        else:
            if outcome == "applied-lost":
                self.physical[evse] = limit
            self.known[evse] = None
            self.failed_at[evse] = self.now
            event = TimedOut(evse, self.now)
        self.feed(event, before, outside=outcome in ("applied-lost", "lost"))

    @rule(data=st.data())
    def go_offline(self, data: st.DataObject) -> None:
        station = data.draw(st.sampled_from(sorted({e.station for e in self.specs})))
        before = self.counted_sums()
        self.offline.setdefault(station, self.now)
        self.feed(StationOffline(station, self.now), before, outside=False)

    @precondition(lambda self: self.offline)
    @rule(data=st.data())
    def come_back(self, data: st.DataObject) -> None:
        station = data.draw(st.sampled_from(sorted(self.offline)))
        before = self.counted_sums()
        if self.now - self.offline.pop(station) > self.knobs.offline_grace:
            for evse in self.specs:
                if evse.station == station:
                    self.known[evse] = None
        self._back(station)
        self.feed(StationOnline(station, self.now), before, outside=False)

    def _back(self, station: str) -> None:
        """A station's return ends its EVSEs' retry delays: what it needs goes at once."""
        for evse in self.specs:
            if evse.station == station:
                self.failed_at.pop(evse, None)

    @rule(data=st.data())
    def reboot(self, data: st.DataObject) -> None:
        station = data.draw(st.sampled_from(sorted({e.station for e in self.specs})))
        before = self.counted_sums()
        self.offline.pop(station, None)
        for evse, spec in self.specs.items():
            if evse.station == station:
                self.known[evse] = None
                self.physical[evse] = spec.max_current
        self._back(station)
        self.feed(StationBooted(station, self.now), before, outside=True)

    @rule(seconds=st.integers(1, 400))
    def wait(self, seconds: int) -> None:
        before = self.counted_sums()
        self.now += timedelta(seconds=seconds)
        self.feed(Tick(self.now), before, outside=True)

    @rule()
    def settle(self) -> None:
        """Every station answers from now on: within a few rounds every node fits, unless the
        EVSEs of offline stations exceed a limit alone (and all others under it are at 0)."""
        self.wait(int(self.knobs.retry_after.total_seconds()) + 1)
        for _ in range(12):
            for evse in sorted(self.pending):
                outcome = "lost" if evse.station in self.offline else "ack"
                self._answer(evse, outcome)
            round_ = plan(self.state, self.now)
            if not round_.to_send and not round_.deferred and not self.pending:
                break
        else:
            raise AssertionError("the allocation did not settle")
        for key, total in self.counted_sums().items():
            if total > self.limit(key):
                online = [
                    e for e in self.specs if key in self.uses[e] and e.station not in self.offline
                ]
                assert all(self.counted(e) == 0 for e in online), key

    @invariant()
    def stations_never_hold_more_than_counted(self) -> None:
        for evse, physical in self.physical.items():
            assert physical <= self.counted(evse), evse


TestAllocation = Allocation.TestCase
TestAllocation.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

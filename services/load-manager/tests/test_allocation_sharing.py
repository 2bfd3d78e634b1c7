"""Worked examples of how the allocator shares a site: the numbers an operator would check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from load_manager.allocation.core import (
    EARLY_REPORT_WINDOW,
    Acknowledged,
    AllocatorSettings,
    Evse,
    EvseId,
    MeterRead,
    Node,
    Phase,
    PhaseAmps,
    Plan,
    Sent,
    SessionStarted,
    SessionStopped,
    Site,
    SiteState,
    Station,
    StatusChanged,
    StatusReported,
    Tick,
    amps,
    apply,
    failsafe_shares,
    node_loads,
    plan,
    watts,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def settle(state: SiteState, now: datetime) -> tuple[SiteState, Plan]:
    """Send every change as a well-behaved caller would, every station acknowledging, until a
    round has nothing left to send."""
    for _ in range(20):
        round_ = plan(state, now)
        if not round_.to_send and not round_.deferred:
            return state, round_
        for change in round_.to_send:
            state = apply(state, Sent(change.evse, change.limit, now))
        for change in round_.to_send:
            state = apply(state, Acknowledged(change.evse, now))
    raise AssertionError("the allocation did not settle")


def evse(station: str, max_a: int = 32, phases: frozenset[Phase] | None = None) -> Evse:
    if phases is None:
        return Evse(EvseId(station, 1), Decimal(max_a))
    return Evse(EvseId(station, 1), Decimal(max_a), phases=phases)


def start(state: SiteState, *stations: str, at: datetime = T0) -> SiteState:
    for offset, station in enumerate(stations):
        state = apply(state, SessionStarted(EvseId(station, 1), at + timedelta(seconds=offset)))
    return state


def limits(round_: Plan, *stations: str) -> list[Decimal]:
    return [round_.targets[EvseId(station, 1)] for station in stations]


def test_twenty_chargers_of_32_a_share_a_100_a_site() -> None:
    names = [f"CP-{i:02}" for i in range(20)]
    site = Site.build(
        [Node("depot", None, amps(100))],
        [Station(name, "depot") for name in names],
        [evse(name) for name in names],
    )
    # 100 A / 20 = 5 A is under the 6 A minimum: idle EVSEs hold 0 until a session asks.
    assert set(failsafe_shares(site).values()) == {Decimal(0)}
    state, round_ = settle(SiteState.start(site), T0)
    assert set(round_.targets.values()) == {Decimal(0)}

    state, round_ = settle(start(state, *names[:3]), T0)
    assert limits(round_, *names[:3]) == [Decimal(32)] * 3

    state, round_ = settle(start(state, *names[3:10], at=T0 + timedelta(minutes=1)), T0)
    assert limits(round_, *names[:10]) == [Decimal(10)] * 10
    assert limits(round_, *names[10:]) == [Decimal(0)] * 10

    # All twenty: 16 x 6 A fit and 17 do not, so the four latest arrivals are paused and the
    # others share the 100 A: 6.25 A each, in steps of 0.1 A the eight earliest 6.3 A and the
    # next eight 6.2 A.
    state, round_ = settle(start(state, *names[10:], at=T0 + timedelta(minutes=2)), T0)
    assert round_.paused == {EvseId(name, 1) for name in names[16:]}
    assert limits(round_, *names[:8]) == [Decimal("6.3")] * 8
    assert limits(round_, *names[8:16]) == [Decimal("6.2")] * 8
    assert limits(round_, *names[16:]) == [Decimal(0)] * 4
    assert node_loads(state, T0)["depot"] == amps(100)


def test_a_single_phase_car_on_l1_among_three_phase_ones() -> None:
    site = Site.build(
        [Node("site", None, amps(63))],
        [Station("A", "site"), Station("B", "site"), Station("C", "site")],
        [evse("A"), evse("B"), evse("C", phases=frozenset({Phase.L1}))],
    )
    state, round_ = settle(start(SiteState.start(site), "A", "B", "C"), T0)
    # L1 carries all three, so 21 A each; L2 and L3 keep 21 A that A and B cannot use
    # without going over on L1.
    assert limits(round_, "A", "B", "C") == [Decimal(21)] * 3
    assert node_loads(state, T0)["site"] == amps(63, 42, 42)


def test_a_capped_single_phase_evse_leaves_the_rest_of_its_phase_to_the_others() -> None:
    site = Site.build(
        [Node("site", None, amps(63))],
        [Station("A", "site"), Station("B", "site"), Station("C", "site")],
        [evse("A"), evse("B"), evse("C", max_a=16, phases=frozenset({Phase.L3}))],
    )
    _, round_ = settle(start(SiteState.start(site), "A", "B", "C"), T0)
    # C (wired to the grid's L3) takes its 16 A; A and B split the 47 A left on L3.
    assert limits(round_, "A", "B", "C") == [Decimal("23.5"), Decimal("23.5"), Decimal(16)]


def test_nested_panel_limits_bind_before_the_site_does() -> None:
    site = Site.build(
        [
            Node("site", None, amps(100)),
            Node("panel-1", "site", amps(32)),
            Node("panel-2", "site", amps(80)),
        ],
        [Station(f"P1-{i}", "panel-1") for i in range(3)]
        + [Station(f"P2-{i}", "panel-2") for i in range(2)]
        + [Station("S", "site")],
        [evse(f"P1-{i}") for i in range(3)] + [evse(f"P2-{i}") for i in range(2)] + [evse("S")],
    )
    names = ["P1-0", "P1-1", "P1-2", "P2-0", "P2-1", "S"]
    state, round_ = settle(start(SiteState.start(site), *names), T0)
    # Panel 1's 32 A split three ways (10.67 A: 10.7, 10.7 and 10.6 A in steps of 0.1 A);
    # the site's other 68 A three ways (22.67 A: 22.7, 22.7, 22.6 A).
    assert limits(round_, *names) == [Decimal(a) for a in "10.7 10.7 10.6 22.7 22.7 22.6".split()]
    loads = node_loads(state, T0)
    assert loads["panel-1"] == amps(32)
    assert loads["panel-2"] == amps(Decimal("45.4"))
    assert loads["site"] == amps(100)


def two_on_32_a() -> SiteState:
    site = Site.build(
        [Node("site", None, amps(32))],
        [Station(name, "site") for name in "AB"],
        [evse(name) for name in "AB"],
    )
    return SiteState.start(site)


def test_a_car_that_suspended_before_its_session_was_known_starts_at_its_minimum() -> None:
    later = T0 + timedelta(hours=1)
    # A's SuspendedEV is followed before its transaction's start, whose station time is earlier.
    state = apply(two_on_32_a(), StatusChanged(EvseId("A", 1), suspended_by_ev=True, at=later))
    state = start(state, "A", "B", at=later - timedelta(seconds=5))
    state, round_ = settle(state, later)
    assert limits(round_, "A", "B") == [Decimal(6), Decimal(26)]
    assert state.evses[EvseId("A", 1)].ev_report is None  # taken by the session


def test_an_evses_own_status_counts_only_before_its_session_is_known() -> None:
    later = T0 + timedelta(hours=1)
    a = EvseId("A", 1)
    # Said before the start: kept for the session, which starts at its minimum.
    state = apply(two_on_32_a(), StatusReported(a, suspended_by_ev=True, at=later))
    state, round_ = settle(start(state, "A", "B", at=later), later)
    assert limits(round_, "A", "B") == [Decimal(6), Decimal(26)]
    # Once the session is known its state is its transaction's: the status changes nothing.
    assert apply(state, StatusReported(a, suspended_by_ev=False, at=later)) == state
    state = apply(state, StatusChanged(a, suspended_by_ev=False, at=later))
    state, round_ = settle(state, later)
    assert limits(round_, "A", "B") == [Decimal(16), Decimal(16)]


def test_an_earlier_cars_last_state_is_not_the_next_sessions() -> None:
    state = start(two_on_32_a(), "A", "B")
    ended = T0 + timedelta(hours=1)
    state = apply(state, SessionStopped(EvseId("A", 1), ended))
    # A SuspendedEV of the session that ended, followed after its end.
    late = ended + timedelta(seconds=2)
    state = apply(state, StatusChanged(EvseId("A", 1), suspended_by_ev=True, at=late))
    nxt = late + EARLY_REPORT_WINDOW + timedelta(seconds=1)
    state, round_ = settle(start(state, "A", at=nxt), nxt)
    assert limits(round_, "A", "B") == [Decimal(16), Decimal(16)]


def test_the_cars_newest_state_before_its_session_counts() -> None:
    at = T0 + timedelta(hours=1)
    state = two_on_32_a()
    state = apply(state, StatusChanged(EvseId("A", 1), suspended_by_ev=True, at=at))
    state = apply(state, StatusChanged(EvseId("A", 1), suspended_by_ev=False, at=at))
    state, round_ = settle(start(state, "A", "B", at=at), at)
    assert limits(round_, "A", "B") == [Decimal(16), Decimal(16)]


def test_a_paused_session_resumes_when_capacity_frees_up() -> None:
    site = Site.build(
        [Node("site", None, amps(16))],
        [Station(name, "site") for name in "ABC"],
        [evse(name) for name in "ABC"],
    )
    state, round_ = settle(start(SiteState.start(site), "A", "B", "C"), T0)
    assert round_.paused == {EvseId("C", 1)}
    assert limits(round_, "A", "B", "C") == [Decimal(8), Decimal(8), Decimal(0)]

    later = T0 + timedelta(minutes=30)
    state = apply(state, StatusChanged(EvseId("A", 1), suspended_by_ev=True, at=later))
    round_ = plan(state, later)
    # A's car stopped drawing (SuspendedEV): A is held at its 6 A minimum, so it can resume,
    # and B gets the 2 A it frees, once A's reduction is acknowledged (lower before raise).
    # C stays paused: 6 + 6 + 6 A do not fit in 16 A.
    assert [(c.evse.station, c.limit) for c in round_.reductions] == [("A", Decimal(6))]
    assert round_.raises == ()
    assert [(d.change.evse.station, d.change.limit) for d in round_.deferred] == [
        ("B", Decimal(10))
    ]
    assert round_.deferred[0].blocked_by == {EvseId("A", 1)}
    assert round_.paused == {EvseId("C", 1)}
    state, round_ = settle(state, later)
    assert limits(round_, "A", "B", "C") == [Decimal(6), Decimal(10), Decimal(0)]

    # B leaves: its EVSE goes back to its standby limit (0 A: 16 A / 3 is under 6 A) and C
    # resumes with what A leaves, once B's reduction is acknowledged.
    state = apply(state, SessionStopped(EvseId("B", 1), later))
    round_ = plan(state, later)
    assert [(c.evse.station, c.limit) for c in round_.reductions] == [("B", Decimal(0))]
    assert [(d.change.evse.station, d.change.limit) for d in round_.deferred] == [
        ("C", Decimal(10))
    ]
    assert round_.paused == frozenset()
    state, round_ = settle(state, later)
    assert limits(round_, "A", "B", "C") == [Decimal(6), Decimal(0), Decimal(10)]


def test_higher_priority_is_served_up_to_its_maximum_first() -> None:
    site = Site.build(
        [Node("site", None, amps(50))],
        [Station("fleet", "site", priority=5), Station("V1", "site"), Station("V2", "site")],
        [evse("fleet"), evse("V1"), evse("V2")],
    )
    state, round_ = settle(start(SiteState.start(site), "V1", "V2", "fleet"), T0)
    # The fleet vehicle arrived last but takes its 32 A; the visitors share the other 18 A.
    assert limits(round_, "fleet", "V1", "V2") == [Decimal(32), Decimal(9), Decimal(9)]
    # An id tag's priority adds to the station's: a visitor's 0 + 9 outranks the fleet's 5 + 0.
    state = apply(state, SessionStopped(EvseId("V2", 1), T0))
    state = apply(state, SessionStarted(EvseId("V2", 1), T0, tag_priority=9))
    _, round_ = settle(state, T0)
    assert limits(round_, "fleet", "V1", "V2") == [Decimal(12), Decimal(6), Decimal(32)]


def test_a_session_drawing_less_than_allowed_is_capped_and_given_back() -> None:
    settings = AllocatorSettings(underuse_after=timedelta(minutes=5), headroom=Decimal(2))
    site = Site.build(
        [Node("site", None, amps(40))],
        [Station("A", "site"), Station("B", "site")],
        [evse("A"), evse("B")],
    )
    state, round_ = settle(start(SiteState.start(site, settings), "A", "B"), T0)
    assert limits(round_, "A", "B") == [Decimal(20), Decimal(20)]
    a = EvseId("A", 1)
    for minute in range(0, 6):
        state = apply(state, MeterRead(a, Decimal(10), T0 + timedelta(minutes=minute)))
    # Five minutes under: A is capped at 10 + 2 A and B gets the rest.
    now = T0 + timedelta(minutes=5)
    state, round_ = settle(apply(state, Tick(now)), now)
    assert limits(round_, "A", "B") == [Decimal(12), Decimal(28)]
    # A draw at the cap (the car wants more) gives it back.
    now += timedelta(minutes=1)
    state = apply(state, MeterRead(a, Decimal("11.5"), now))
    _, round_ = settle(state, now)
    assert limits(round_, "A", "B") == [Decimal(20), Decimal(20)]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (watts(69_000), amps(100)),
        (watts(22_080, voltage=230), amps(Decimal(32))),
        (watts(11_000, phase=Phase.L2), PhaseAmps(Decimal(0), Decimal("47.8"), Decimal(0))),
        (watts(10_000, voltage=120), amps(Decimal("27.7"))),
    ],
)
def test_watt_limits_become_amps_per_phase_rounded_down(
    limit: PhaseAmps, expected: PhaseAmps
) -> None:
    assert limit == expected


def test_a_site_is_checked_when_built() -> None:
    root = Node("site", None, amps(10))
    with pytest.raises(ValueError, match="one root"):
        Site.build([root, Node("other", None, amps(10))], [], [])
    with pytest.raises(ValueError, match="unknown parent"):
        Site.build([root, Node("panel", "nowhere", amps(10))], [], [])
    with pytest.raises(ValueError, match="cycle"):
        Site.build([root, Node("a", "b", amps(1)), Node("b", "a", amps(1))], [], [])
    with pytest.raises(ValueError, match="given twice"):
        Site.build([root], [Station("S", "site"), Station("S", "site")], [])
    with pytest.raises(ValueError, match="unknown station"):
        Site.build([root], [], [evse("S")])
    with pytest.raises(ValueError, match=r"multiple of 0\.1"):
        Evse(EvseId("S", 1), Decimal("16.05"))
    with pytest.raises(ValueError, match="min_current"):
        Evse(EvseId("S", 1), Decimal(6), min_current=Decimal(8))

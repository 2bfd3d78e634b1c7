"""Rounds over time: lower before raise, stations that do not answer, go offline or reboot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from load_manager.allocation.core import (
    Acknowledged,
    AllocatorSettings,
    Change,
    Evse,
    EvseId,
    LimitChanged,
    MeterRead,
    Node,
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
    TimedOut,
    amps,
    apply,
    failsafe_shares,
    node_loads,
    plan,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SETTINGS = AllocatorSettings(
    threshold=Decimal(1), offline_grace=timedelta(minutes=5), retry_after=timedelta(seconds=60)
)


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


def send_all(state: SiteState, round_: Plan, now: datetime) -> SiteState:
    for change in round_.to_send:
        state = apply(state, Sent(change.evse, change.limit, now))
    return state


def site_of(limit: int, *stations: str, max_a: int = 32) -> Site:
    return Site.build(
        [Node("site", None, amps(limit))],
        [Station(name, "site") for name in stations],
        [Evse(EvseId(name, 1), Decimal(max_a)) for name in stations],
    )


def charging(site: Site, *stations: str) -> SiteState:
    """Every station charging, its limits acknowledged."""
    state = SiteState.start(site, SETTINGS)
    for name in stations:
        state = apply(state, SessionStarted(EvseId(name, 1), T0))
    return settle(state, T0)[0]


def sent(round_: Plan) -> list[tuple[str, Decimal]]:
    return [(change.evse.station, change.limit) for change in round_.to_send]


A, B, C = EvseId("A", 1), EvseId("B", 1), EvseId("C", 1)


def test_at_boot_every_evse_gets_its_failsafe_share() -> None:
    site = site_of(100, "A", "B", "C", "D")
    assert set(failsafe_shares(site).values()) == {Decimal(25)}
    state = SiteState.start(site, SETTINGS)
    round_ = plan(state, T0)
    # Never acknowledged: each counts at its 32 A maximum, 128 A on a 100 A site, so the
    # failsafe limits go out at once as reductions.
    assert set(round_.counted.values()) == {Decimal(32)}
    assert sent(round_) == [(name, Decimal(25)) for name in "ABCD"]
    state, _ = settle(state, T0)
    assert node_loads(state, T0)["site"] == amps(100)
    # A reboot loses what A held: it counts at its maximum until it acknowledges again.
    state = apply(state, StationBooted("A", T0))
    round_ = plan(state, T0)
    assert round_.counted[A] == Decimal(32)
    assert sent(round_) == [("A", Decimal(25))]


def test_a_new_session_is_raised_only_after_the_others_reductions_land() -> None:
    state = charging(site_of(64, "A", "B", "C"), "A", "B")
    state = apply(state, SessionStarted(C, T0))
    round_ = plan(state, T0)
    # 64 A / 3 = 21.33 A: 21.4 A for the first in line, 21.3 A for the others.
    assert sent(round_) == [("A", Decimal("21.4")), ("B", Decimal("21.3"))]
    assert [d.change.evse for d in round_.deferred] == [C]
    assert round_.deferred[0].blocked_by == {A, B}
    state = send_all(state, round_, T0)
    state = apply(state, Acknowledged(B, T0))
    # A's reduction is still in flight: A counts at its old 32 A, so C must still wait.
    round_ = plan(state, T0)
    assert round_.to_send == ()
    assert round_.deferred[0].blocked_by == {A}
    state = apply(state, Acknowledged(A, T0))
    assert sent(plan(state, T0)) == [("C", Decimal("21.3"))]


def test_an_unresponsive_station_counts_at_its_maximum() -> None:
    state = charging(site_of(64, "A", "B"), "A", "B")
    state = apply(state, LimitChanged("site", amps(40), T0))
    round_ = plan(state, T0)
    assert sent(round_) == [("A", Decimal(20)), ("B", Decimal(20))]
    state = send_all(state, round_, T0)
    t1 = T0 + timedelta(seconds=30)
    state = apply(state, Acknowledged(A, t1))
    state = apply(state, TimedOut(B, t1))
    # B may or may not hold 20 A: it counts at 32 A, and A makes room at once.
    round_ = plan(state, t1)
    assert round_.counted[B] == Decimal(32)
    assert sent(round_) == [("A", Decimal(8))]
    state = apply(send_all(state, round_, t1), Acknowledged(A, t1))
    assert node_loads(state, t1)["site"] == amps(40)
    # After the retry delay B is tried again; A gets its share back only once B answers.
    t2 = t1 + SETTINGS.retry_after
    round_ = plan(state, t2)
    assert sent(round_) == [("B", Decimal(20))]
    assert [(d.change.evse, d.blocked_by) for d in round_.deferred] == [(A, frozenset({B}))]
    state = apply(send_all(state, round_, t2), Acknowledged(B, t2))
    _, round_ = settle(state, t2)
    assert round_.targets[A] == round_.targets[B] == Decimal(20)


def test_a_rejected_limit_leaves_the_station_at_what_it_held() -> None:
    state = charging(site_of(40, "A", "B"), "A", "B")
    state = apply(state, LimitChanged("site", amps(30), T0))
    state = send_all(state, plan(state, T0), T0)
    state = apply(state, Rejected(A, T0))
    state = apply(state, Acknowledged(B, T0))
    round_ = plan(state, T0)
    assert round_.counted[A] == Decimal(20)
    assert sent(round_) == [("B", Decimal(10))]
    state = apply(send_all(state, round_, T0), Acknowledged(B, T0))
    assert plan(state, T0 + timedelta(seconds=59)).to_send == ()
    _, round_ = settle(state, T0 + SETTINGS.retry_after)
    assert round_.targets[A] == round_.targets[B] == Decimal(15)


def test_an_offline_station_counts_at_its_allocation_then_at_its_maximum() -> None:
    state = charging(site_of(40, "A", "B"), "A", "B")
    state = apply(state, StationOffline("B", T0))
    within = T0 + SETTINGS.offline_grace
    assert plan(state, within).counted[B] == Decimal(20)
    assert plan(state, within).to_send == ()
    beyond = within + timedelta(seconds=1)
    round_ = plan(state, beyond)
    assert round_.counted[B] == Decimal(32)
    assert sent(round_) == [("A", Decimal(8))]
    state = apply(send_all(state, round_, beyond), Acknowledged(A, beyond))
    # Back after the grace: B's limit is unknown until it acknowledges one.
    back = beyond + timedelta(minutes=1)
    state = apply(state, StationOnline("B", back))
    round_ = plan(state, back)
    assert sent(round_) == [("B", Decimal(20))]
    assert [d.change.evse for d in round_.deferred] == [A]
    _, round_ = settle(state, back)
    assert round_.targets[A] == round_.targets[B] == Decimal(20)


def test_a_station_back_within_the_grace_keeps_its_allocation() -> None:
    state = charging(site_of(40, "A", "B"), "A", "B")
    state = apply(state, StationOffline("B", T0))
    state = apply(state, StationOnline("B", T0 + timedelta(minutes=1)))
    round_ = plan(state, T0 + timedelta(hours=1))
    assert round_.counted[B] == Decimal(20)
    assert round_.to_send == ()


def test_changes_under_the_threshold_are_not_sent_unless_safety_needs_them() -> None:
    state = charging(site_of(30, "A", "B", "C"), "A", "B", "C")
    assert plan(state, T0).counted[A] == Decimal(10)
    # 10.6 A each would be a 0.6 A raise: not worth a message.
    state = apply(state, LimitChanged("site", amps(32), T0))
    assert plan(state, T0).to_send == ()
    state = apply(state, LimitChanged("site", amps(33), T0))
    state, round_ = settle(state, T0)
    assert set(round_.targets.values()) == {Decimal(11)}
    # 33 A held on a 31.5 A limit: the 0.5 A reductions go out, small as they are.
    state = apply(state, LimitChanged("site", amps(Decimal("31.5")), T0))
    round_ = plan(state, T0)
    assert sent(round_) == [(name, Decimal("10.5")) for name in "ABC"]
    assert round_.raises == ()


def test_a_small_reduction_is_skipped_until_another_session_needs_it() -> None:
    knobs = AllocatorSettings(
        threshold=Decimal(1), headroom=Decimal(2), underuse_after=timedelta(minutes=5)
    )
    site = Site.build(
        [Node("site", None, amps(40))],
        [Station(name, "site") for name in "ABC"],
        [Evse(A, Decimal(10)), Evse(B, Decimal(16)), Evse(C, Decimal(32))],
    )
    state = SiteState.start(site, knobs)
    state = apply(apply(state, SessionStarted(A, T0)), SessionStarted(B, T0))
    state, round_ = settle(state, T0)
    # A and B at their maximum; C idle at its failsafe share (40 A / 3).
    assert [round_.targets[e] for e in (A, B, C)] == [10, 16, Decimal("13.3")]
    for minute in range(6):
        state = apply(state, MeterRead(A, Decimal("7.5"), T0 + timedelta(minutes=minute)))
    # A draws 7.5 A: capped at 9.5 A, a 0.5 A cut nobody needs, so nothing is sent.
    later = T0 + timedelta(minutes=5)
    assert plan(state, later).to_send == ()
    # C starts: B and C share what A leaves (15.25 A each), and the targets fill the 40 A,
    # so A's 0.5 A cut is needed now and goes out with B's.
    state = apply(state, SessionStarted(C, later))
    round_ = plan(state, later)
    assert sent(round_) == [("A", Decimal("9.5")), ("B", Decimal("15.3"))]
    assert [(d.change.evse, d.change.limit) for d in round_.deferred] == [(C, Decimal("15.2"))]


def test_the_round_trip_protocol_is_checked() -> None:
    state = charging(site_of(40, "A", "B"), "A", "B")
    assert apply(state, Acknowledged(A, T0)) == state  # nothing in flight: a stale answer
    state = apply(state, Sent(A, Decimal(10), T0))
    with pytest.raises(ValueError, match="already in flight"):
        apply(state, Sent(A, Decimal(12), T0))
    with pytest.raises(ValueError, match="outside"):
        apply(state, Sent(B, Decimal(33), T0))


def test_a_start_at_a_full_site_lowers_the_fewest_idle_evses() -> None:
    """600 A over 50 EVSEs: each idle one holds its failsafe 12 A. A 32 A session needs 20 A
    back: four idle EVSEs give it (12 -> 6, 6, 6, 10), not all 49 by 0.4 A; each lowering is
    a profile sent, and the session's raise waits for them all."""
    names = [f"S{index:02}" for index in range(50)]
    state = SiteState.start(site_of(600, *names), SETTINGS)
    state, round_ = settle(state, T0)
    assert set(round_.targets.values()) == {Decimal(12)}
    first = EvseId(names[0], 1)
    state = apply(state, SessionStarted(first, T0))
    round_ = plan(state, T0)
    assert sorted(change.limit for change in round_.reductions) == [6, 6, 6, 10]
    assert [d.change for d in round_.deferred] == [Change(first, Decimal(32), Decimal(12))]
    state, round_ = settle(state, T0)
    assert round_.targets[first] == 32
    assert node_loads(state, T0)["site"] == amps(600)
    untouched = [e for e, limit in round_.targets.items() if limit == 12]
    assert len(untouched) == 45
    # The session ends: its EVSE goes back to 12 A, and the four that gave are raised back.
    state = apply(state, SessionStopped(first, T0))
    round_ = plan(state, T0)
    assert sent(round_) == [(names[0], Decimal(12))]
    assert len(round_.deferred) == 4
    state, round_ = settle(state, T0)
    assert set(round_.targets.values()) == {Decimal(12)}


def test_idle_evses_are_raised_in_order_towards_their_failsafe_share() -> None:
    state = charging(site_of(100, "A", "B", "C", "D"), "A")
    # A charges at 32 A; B, C and D start from their failsafe share (25 A) and the last in
    # order gives back what A needs: 25, 25, 18.
    assert [plan(state, T0).targets[e] for e in (A, B, C, EvseId("D", 1))] == [32, 25, 25, 18]
    # 20 A more, and failsafe shares of 30 A: handed out in order, each up to its share.
    state = apply(state, LimitChanged("site", amps(120), T0))
    round_ = plan(state, T0)
    assert sent(round_) == [("B", Decimal(30)), ("C", Decimal(30)), ("D", Decimal(28))]

"""A session's priority is its station's plus its id tag's chargingPriority: worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from load_manager.allocation.core import (
    Acknowledged,
    Evse,
    EvseId,
    Node,
    Plan,
    Sent,
    SessionStarted,
    Site,
    SiteState,
    Station,
    amps,
    apply,
    plan,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def settle(state: SiteState) -> tuple[SiteState, Plan]:
    """Send and acknowledge every change until a round has nothing left to send."""
    for _ in range(20):
        round_ = plan(state, T0)
        if not round_.to_send and not round_.deferred:
            return state, round_
        for change in round_.to_send:
            state = apply(state, Sent(change.evse, change.limit, T0))
        for change in round_.to_send:
            state = apply(state, Acknowledged(change.evse, T0))
    raise AssertionError("the allocation did not settle")


def small_site(*stations: Station) -> SiteState:
    """A 10 A site: room for one 6 A minimum, not two."""
    site = Site.build(
        [Node("site", None, amps(10))],
        stations,
        [Evse(EvseId(s.id, 1), Decimal(32)) for s in stations],
    )
    return SiteState.start(site)


def arrive(state: SiteState, station: str, minute: int, tag_priority: int = 0) -> SiteState:
    at = T0 + timedelta(minutes=minute)
    return apply(state, SessionStarted(EvseId(station, 1), at, tag_priority))


def limits(round_: Plan, *stations: str) -> list[Decimal]:
    return [round_.targets[EvseId(station, 1)] for station in stations]


def test_the_tag_with_the_higher_priority_charges_and_the_other_is_paused() -> None:
    state = small_site(Station("A", "site"), Station("B", "site"))
    # A came first, but B's tag has chargingPriority 5: B takes the 10 A, A is paused.
    state = arrive(arrive(state, "A", 0), "B", 1, tag_priority=5)
    state, round_ = settle(state)
    assert limits(round_, "A", "B") == [Decimal(0), Decimal(10)]
    assert round_.paused == {EvseId("A", 1)}
    assert state.priority(EvseId("B", 1)) == 5


def test_the_station_priority_and_the_tag_priority_are_summed() -> None:
    # A's station ranks 2 above B's; A's tag -3 takes its session to -1, under B's 0 + 0.
    state = small_site(Station("A", "site", priority=2), Station("B", "site"))
    state = arrive(arrive(state, "A", 0, tag_priority=-3), "B", 1)
    state, round_ = settle(state)
    assert [state.priority(EvseId(s, 1)) for s in ("A", "B")] == [-1, 0]
    assert limits(round_, "A", "B") == [Decimal(0), Decimal(10)]
    assert round_.paused == {EvseId("A", 1)}


def test_a_station_priority_outweighs_what_a_tag_can_add() -> None:
    # The operator's coarse lever: a station 20 above wins over the highest tag priority.
    state = small_site(Station("fleet", "site", priority=20), Station("visitor", "site"))
    state = arrive(arrive(state, "visitor", 0, tag_priority=9), "fleet", 1, tag_priority=-9)
    state, round_ = settle(state)
    assert limits(round_, "fleet", "visitor") == [Decimal(10), Decimal(0)]


def test_equal_sums_are_served_in_arrival_order() -> None:
    # 1 + 2 on A equals 3 + 0 on B: a tie, so the earlier arrival (B) charges.
    state = small_site(Station("A", "site", priority=1), Station("B", "site", priority=3))
    state = arrive(arrive(state, "B", 0), "A", 1, tag_priority=2)
    state, round_ = settle(state)
    assert limits(round_, "A", "B") == [Decimal(0), Decimal(10)]
    assert round_.paused == {EvseId("A", 1)}

"""A single-phase node: its one limit holds on the grid phase it is fed from, everything under
it draws on that phase, and its parent sees the draw there."""

from __future__ import annotations

from decimal import Decimal

import pytest

from load_manager.allocation.core import (
    THREE_PHASE,
    EvseId,
    LimitChanged,
    Node,
    Phase,
    PhaseAmps,
    Site,
    SiteState,
    Station,
    amps,
    apply,
    failsafe_shares,
    node_loads,
)

from .test_allocation_sharing import T0, evse, limits, settle, start

L2 = frozenset({Phase.L2})


def depot() -> Site:
    """A 63 A site; under it a 16 A single-phase shed fed from L2 with two single-phase
    stations (B's wiring recorded as L1, which a conductor on L2 cannot be); a three-phase
    station on the site."""
    return Site.build(
        [
            Node("site", None, amps(63)),
            Node("shed", "site", PhaseAmps(Decimal(0), Decimal(16), Decimal(0)), L2),
        ],
        [Station("A", "shed"), Station("B", "shed"), Station("S", "site")],
        [evse("A", phases=L2), evse("B", phases=frozenset({Phase.L1})), evse("S")],
    )


def test_two_stations_under_a_16_a_single_phase_node_share_16_a_on_its_phase() -> None:
    site = depot()
    a, b = EvseId("A", 1), EvseId("B", 1)
    # The shed is one constraint, on L2; so are its stations, and the site's L2 above it.
    assert site.constraints[a] == site.constraints[b] == (("shed", Phase.L2), ("site", Phase.L2))
    assert [c for c in site.all_constraints() if c[0] == "shed"] == [("shed", Phase.L2)]
    # Idle, each holds half the shed's 16 A.
    assert failsafe_shares(site)[a] == failsafe_shares(site)[b] == Decimal(8)

    state, round_ = settle(start(SiteState.start(site), "A", "B", "S"), T0)
    # 8 A each, not 16 each (as the shed's limit copied onto three phases would allow B, on
    # L1): and S takes its 32 A, the site's L2 carrying the shed's 16 A beside it.
    assert limits(round_, "A", "B", "S") == [Decimal(8), Decimal(8), Decimal(32)]
    loads = node_loads(state, T0)
    assert loads["shed"] == PhaseAmps(Decimal(0), Decimal(16), Decimal(0))
    assert loads["site"] == amps(32, 48, 32)


def test_the_site_l2_holds_what_the_shed_draws_there() -> None:
    # On a 40 A site the shed's 16 A and S share L2: S gets what L2 leaves, 24 A.
    site = depot().with_limit("site", amps(40))
    state, round_ = settle(start(SiteState.start(site), "A", "B", "S"), T0)
    assert limits(round_, "A", "B", "S") == [Decimal(8), Decimal(8), Decimal(24)]
    assert node_loads(state, T0)["site"] == amps(24, 40, 24)


def test_a_lower_limit_on_the_shed_stays_on_its_phase() -> None:
    state, _ = settle(start(SiteState.start(depot()), "A", "B"), T0)
    twelve = PhaseAmps(Decimal(0), Decimal(12), Decimal(0))
    state = apply(state, LimitChanged("shed", twelve, T0))
    assert state.site.nodes["shed"].phases == L2
    state, round_ = settle(state, T0)
    assert limits(round_, "A", "B") == [Decimal(6), Decimal(6)]
    # At 10 A one session's 6 A minimum fits, not two: the later one is paused.
    ten = PhaseAmps(Decimal(0), Decimal(10), Decimal(0))
    state, round_ = settle(apply(state, LimitChanged("shed", ten, T0)), T0)
    assert limits(round_, "A", "B") == [Decimal(10), Decimal(0)]
    assert round_.paused == {EvseId("B", 1)}


@pytest.mark.parametrize(
    ("phases", "error"),
    [
        (THREE_PHASE, "node under: on a phase its parent shed lacks"),
        (frozenset({Phase.L3}), "node under: on a phase its parent shed lacks"),
        (frozenset({Phase.L1, Phase.L2}), "node under: carries all three phases or one"),
    ],
)
def test_a_node_under_a_single_phase_one_is_on_its_phase(
    phases: frozenset[Phase], error: str
) -> None:
    shed = Node("shed", "site", amps(16), L2)
    with pytest.raises(ValueError, match=error):
        Site.build(
            [Node("site", None, amps(63)), shed, Node("under", "shed", amps(16), phases)], [], []
        )

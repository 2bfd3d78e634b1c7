"""What the allocator holds against, in the core and against schema `loads`: limits a column and a
grid connection can hold, one site's failing round stopping no other, readings an EVSE cannot
draw, an operator's profile in the allocator's place, and a station placed while offline."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import MeterCurrent, MeterValues, StationConnected
from csms_shared.contracts.rpc_loads import (
    AssignStation,
    NodeSettings,
    SiteChange,
    UpdateSite,
)
from csms_shared.contracts.rpc_profiles import StoreProfile
from csms_shared.db import create_engine
from csms_shared.ocpp.version import OcppVersion
from load_manager.allocation import rounds
from load_manager.allocation.core import (
    AllocatorSettings,
    Evse,
    EvseId,
    MeterRead,
    Node,
    Rejected,
    Sent,
    SessionStarted,
    Site,
    SiteState,
    Station,
    StationBooted,
    StationOnline,
    StatusChanged,
    Tick,
    Undelivered,
    amps,
    apply,
    plan,
    plausible,
)
from load_manager.allocation.follow_allocation import meters_current
from load_manager.allocation.timer import tick_all
from load_manager.db import evse_allocations, outbox, site_samples, stations
from load_manager.profiles.follow_profiles import command_completed, station_connected
from load_manager.profiles.rpc_profiles import store_profile
from load_manager.settings import Settings
from load_manager.sites.rpc_sites import create_site, update_site
from load_manager.sites.rpc_stations import assign_station
from tests.integration.support import eventually

from .conftest import Rpc
from .test_allocator_service import Site as SiteOf
from .test_profiles import completed, profile, sent

V16 = OcppVersion.V16
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ONE = EvseId("CP-1", 1)


def one_evse(maximum: int = 32, **knobs: object) -> SiteState:
    site = Site.build(
        [Node("site", None, amps(100))],
        [Station("CP-1", "site")],
        [Evse(ONE, Decimal(maximum), Decimal(6))],
    )
    return SiteState.start(site, AllocatorSettings(**knobs))  # type: ignore[arg-type]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def site(rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> SiteOf:
    made = SiteOf(rpc, sessions, settings)
    await made.create(32)
    return made


# -- limits, and each site's timer round on its own ---------------------------------


def test_a_limit_in_watts_is_held_to_10000_a_per_phase_at_its_voltage() -> None:
    assert NodeSettings(name="x", limit_watts=6_900_000).limit_watts == 6_900_000  # 10,000 A
    for fields in (
        {"limit_watts": 10**9},  # 1.4 million A per phase at 230 V
        {"limit_watts": 6_900_001},
        {"limit_watts": 2_300_001, "phases": 1},
        {"limit_watts": 3_000_001, "voltage": 100},
    ):
        with pytest.raises(ValidationError, match=r"limit_?[wW]atts"):
            NodeSettings.model_validate({"name": "x", **fields})
    with pytest.raises(ValidationError, match=r"limit_?[aA]mps"):
        NodeSettings.model_validate({"name": "x", "limitAmps": [10_000.1] * 3})


async def test_a_change_that_takes_a_limit_in_watts_past_the_bound_is_refused(rpc: Rpc) -> None:
    site = await rpc(
        create_site, NodeSettings(name=f"w-{uuid.uuid4().hex[:8]}", limit_watts=6_900_000)
    )
    with pytest.raises(RpcError, match="limitWatts: 6900000 W is 20909 A per phase at 110 V"):
        await rpc(update_site, UpdateSite(site_id=site.id, change=SiteChange(voltage=110)))


async def test_a_site_whose_round_fails_stops_no_other_sites_timer_round(
    site: SiteOf, rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # The broken site comes first in the timer's order (a lower id).
    broken = SiteOf(rpc, sessions, settings)
    broken.site_id = site.site_id
    healthy = SiteOf(rpc, sessions, settings)
    await healthy.create(32)
    bad_cp = await broken.place(V16)
    good_cp = await healthy.place(V16)
    await healthy.settle(good_cp)
    async with sessions() as session, session.begin():
        await session.execute(
            update(stations).where(stations.c.charge_point_id == bad_cp).values(ocpp_version="?")
        )
    failures = "csms_loads_site_round_failures_total"
    before = sample(failures, site=str(broken.site_id))
    try:
        ran = await tick_all(sessions, settings)
        assert sample(failures, site=str(broken.site_id)) == before + 1
        assert sample(failures, site=str(healthy.site_id)) == 0
        assert ran >= 1
        async with sessions() as session:
            sampled = set(await session.scalars(select(site_samples.c.site_id)))
        assert healthy.site_id in sampled and broken.site_id not in sampled
    finally:
        async with sessions() as session, session.begin():
            await session.execute(
                update(stations)
                .where(stations.c.charge_point_id == bad_cp)
                .values(ocpp_version=None)
            )


async def test_a_sample_holds_what_its_columns_hold_however_many_evses_add_up(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # 128 EVSEs of 10,000 A, each counted at its maximum until a limit lands: 1.28 million A,
    # more than the sample's column holds (and no grid connection carries).
    big = SiteOf(rpc, sessions, settings)
    made = NodeSettings(name=f"big-{uuid.uuid4().hex[:8]}", limit_amps=[Decimal(10_000)] * 3)
    big.site_id = (await rpc(create_site, made)).id
    for _ in range(4):
        await big.place(V16, evses=32, max_current=10_000, min_current=0)
    at = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await rounds.run(session, settings, big.site_id, [Tick(at)], at, sample=True)
    async with sessions() as session:
        row = (
            await session.execute(select(site_samples).where(site_samples.c.site_id == big.site_id))
        ).one()
    assert (row.limit_amps, row.allocated_amps) == (10_000, Decimal("999999.9"))


# -- readings an EVSE cannot draw ---------------------------------------------------


def test_a_reading_is_plausible_from_0_to_twice_the_evses_maximum() -> None:
    state = one_evse(32)
    assert plausible(state, ONE, Decimal(0)) and plausible(state, ONE, Decimal(64))
    assert not plausible(state, ONE, Decimal("-0.1"))
    assert not plausible(state, ONE, Decimal("64.1"))
    assert not plausible(state, ONE, Decimal("1E+999999"))
    assert plausible(one_evse(32, reading_factor=Decimal(3)), ONE, Decimal(96))


def test_an_implausible_reading_is_ignored_and_the_last_plausible_one_stands() -> None:
    state = apply(one_evse(), SessionStarted(ONE, T0))
    state = apply(state, MeterRead(ONE, Decimal("12.34"), T0))
    assert state.evse(ONE).draw == Decimal("12.3")
    later = T0 + timedelta(seconds=10)
    for lie in (Decimal("-999999.9"), Decimal("999999.9"), Decimal("-1E+30")):
        state = apply(state, MeterRead(ONE, lie, later))
        live = state.evse(ONE)
        assert (live.draw, live.measured_at, live.implausible_since) == (Decimal("12.3"), T0, later)
    state = apply(state, MeterRead(ONE, Decimal(10), later))
    assert (state.evse(ONE).draw, state.evse(ONE).implausible_since) == (Decimal(10), None)


def test_a_large_negative_reading_held_for_the_underuse_window_caps_nothing() -> None:
    state = apply(one_evse(), SessionStarted(ONE, T0))
    for seconds in range(0, 700, 10):
        at = T0 + timedelta(seconds=seconds)
        state = apply(state, MeterRead(ONE, Decimal("-999999.9"), at))
        state = apply(state, Tick(at))
    session = state.evse(ONE).session
    assert session is not None and (session.demand_cap, session.underuse_since) == (None, None)
    assert plan(state, T0 + timedelta(seconds=700)).targets[ONE] == 32


def test_a_session_starting_at_the_start_of_time_after_a_report_does_not_overflow() -> None:
    # A start time is the station's: one at the start of time takes the report before it as
    # any earlier start does, without a date before the start of time in between.
    state = apply(one_evse(), StatusChanged(ONE, True, T0))
    ancient = datetime.min.replace(tzinfo=UTC)
    state = apply(state, SessionStarted(ONE, ancient))
    session = state.evse(ONE).session
    assert session is not None and session.suspended_by_ev


def test_a_current_no_evse_draws_is_carried_as_a_number_json_holds_at_once() -> None:
    reading = MeterValues.model_validate(
        {
            "chargePointId": "CP-1",
            "connectorId": 1,
            "ocppVersion": "1.6",
            "meterValue": [
                {
                    "timestamp": "2026-11-25T08:00:00Z",
                    "sampledValue": [{"value": "1E+9999999", "measurand": "Current.Import"}],
                }
            ],
        }
    )
    current = MeterCurrent.of(reading)
    assert current is not None
    # Carried as 10^15, not written out as a ten-million-digit JSON integer.
    assert orjson.loads(current.encode())["amps"] == 10**15


async def test_twelve_evses_reading_a_million_amps_change_nothing_and_raise_one_event_each(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    lying = SiteOf(rpc, sessions, settings)
    await lying.create(200)
    cp_id = await lying.place(V16, evses=12, max_current=16, min_current=6)
    counter = "csms_loads_implausible_readings_total"
    before = sample(counter, bound="above_maximum")

    def reads(value: str) -> list[MeterCurrent]:
        return [
            MeterCurrent(
                charge_point_id=cp_id,
                connector_id=n,
                amps=Decimal(value),
                read_at=datetime.now(UTC),
                ocpp_version=V16,
            )
            for n in range(1, 13)
        ]

    await rpc(meters_current, reads("999999.9"))
    await rpc(meters_current, reads("999999.9"))  # still implausible: no new event
    assert sample(counter, bound="above_maximum") == before + 24
    async with sessions() as session:
        draws = set(
            await session.scalars(
                select(evse_allocations.c.draw).where(evse_allocations.c.charge_point_id == cp_id)
            )
        )
        bodies = await session.scalars(
            select(outbox.c.body).where(outbox.c.routing_key.startswith("security.event"))
        )
        events = [e for e in map(orjson.loads, bodies) if e["chargePointId"] == cp_id]
    assert draws == {None}
    assert len(events) == 12
    assert {e["type"] for e in events} == {"ImplausibleCurrentReading"}
    assert "999999.9 A, outside 0..32" in events[0]["techInfo"]
    # The site's timer round, and its sample, go on.
    at = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await rounds.run(session, settings, lying.site_id, [Tick(at)], at, sample=True)


# -- the allocator's own profile ------------------------------------------------------


async def test_an_operators_profile_never_takes_the_allocators_place(
    site: SiteOf, rpc: Rpc, settings: Settings
) -> None:
    cp_id = await site.place(V16)

    async def storing(**fields: object) -> None:
        params = StoreProfile(charge_point_id=cp_id, ocpp_version=V16, profile=profile(**fields))
        await rpc(store_profile, params)

    allocator = settings.allocation_profile_id
    for fields, why in (
        ({"id": allocator + 1}, "profile.id"),
        ({"id": allocator + 32}, "profile.id"),
        ({"id": 2, "stackLevel": settings.allocation_stack_level}, "profile.stackLevel"),
        ({"id": 2, "stackLevel": 50}, "profile.stackLevel"),
        (
            {
                "id": 3,
                "purpose": "TxProfile",
                "kind": "Relative",
                "transactionId": "1",
                "schedules": [{"rateUnit": "A", "periods": [{"startPeriod": 0, "limit": 32}]}],
            },
            "profile.purpose",
        ),
    ):
        with pytest.raises(RpcError, match=why) as refused:
            await storing(**fields)
        assert refused.value.code == "invalid"
    await storing(id=allocator + 33)  # past the allocator's range
    await storing(id=4, stackLevel=settings.allocation_stack_level - 1)
    await storing(id=5, purpose="StationMaxProfile", connectorId=0, stackLevel=99)


async def test_a_station_holding_a_profile_above_the_allocators_is_not_placed(
    site: SiteOf, rpc: Rpc, settings: Settings
) -> None:
    cp_id = f"CP-{uuid.uuid4().hex[:8]}"
    params = StoreProfile(
        charge_point_id=cp_id, ocpp_version=V16, profile=profile(id=7, stackLevel=9)
    )
    await rpc(store_profile, params)
    with pytest.raises(RpcError, match=r"7 \(stackLevel: 9") as refused:
        await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=site.site_id))
    assert refused.value.code == "conflict"


# -- an `offline` outcome, and a station's return ----------------------------------


def test_an_undelivered_limit_is_no_rejection_and_the_stations_return_sends_at_once() -> None:
    state = one_evse()
    [change] = plan(state, T0).to_send
    state = apply(state, Sent(ONE, change.limit, T0))
    state = apply(state, Undelivered(ONE, T0))
    live = state.evse(ONE)
    assert (live.in_flight, live.failed_at, live.applied) == (None, None, None)
    assert state.offline_since == {"CP-1": T0}
    assert not plan(state, T0).to_send  # nothing goes to an offline station
    for back in (StationOnline("CP-1", T0 + timedelta(seconds=1)), StationBooted("CP-1", T0)):
        assert [c.evse for c in plan(apply(state, back), T0 + timedelta(seconds=1)).to_send] == [
            ONE
        ]


def test_a_return_ends_the_retry_delay_of_a_rejection() -> None:
    state = one_evse()
    [change] = plan(state, T0).to_send
    state = apply(state, Sent(ONE, change.limit, T0))
    state = apply(state, Rejected(ONE, T0))
    soon = T0 + timedelta(seconds=1)
    assert not plan(state, soon).to_send
    for back in (StationOnline("CP-1", soon), StationBooted("CP-1", soon)):
        assert plan(apply(state, back), soon).to_send


async def test_a_station_placed_while_offline_gets_its_limit_on_its_return(
    site: SiteOf, rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp_id = await site.place(V16)
    [first] = await sent(sessions, cp_id)
    await rpc(command_completed, completed(settings, first, version=V16, status="offline"))
    async with sessions() as session:
        row = (
            await session.execute(select(stations).where(stations.c.charge_point_id == cp_id))
        ).one()
    assert row.offline_since is not None
    assert len(await sent(sessions, cp_id)) == 1  # nothing more while it is offline
    back = StationConnected(
        charge_point_id=cp_id, gateway="g", connection_id="c", connected_at=datetime.now(UTC)
    )
    await rpc(station_connected, back)
    assert len(await sent(sessions, cp_id)) == 2


async def test_an_offline_outcome_older_than_a_newer_connection_sends_again_at_once(
    site: SiteOf, rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp_id = await site.place(V16)
    [first] = await sent(sessions, cp_id)
    # The station connected after the limit was sent; the offline answer comes after that.
    back = StationConnected(
        charge_point_id=cp_id, gateway="g", connection_id="c", connected_at=datetime.now(UTC)
    )
    await rpc(station_connected, back)
    await rpc(command_completed, completed(settings, first, version=V16, status="offline"))
    async with sessions() as session:
        offline = await session.scalar(
            select(stations.c.offline_since).where(stations.c.charge_point_id == cp_id)
        )
    assert offline is None
    assert len(await sent(sessions, cp_id)) == 2


async def test_an_offline_outcome_racing_the_reconnections_round_still_sends_at_once(
    site: SiteOf, rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The offline outcome is handled while the reconnection's transaction is still open (its
    round holds the site): the outcome waits for it and then sees the connection, instead of
    reading the connections first and counting the station offline after its return."""
    cp_id = await site.place(V16)
    [first] = await sent(sessions, cp_id)
    back = StationConnected(
        charge_point_id=cp_id, gateway="g", connection_id="c", connected_at=datetime.now(UTC)
    )
    async with sessions() as reconnection, reconnection.begin():
        await station_connected(back, Context(reconnection, settings))
        outcome = completed(settings, first, version=V16, status="offline")
        answered = asyncio.create_task(rpc(command_completed, outcome))

        # Seen from a connection of its own (the fixture's pool holds the two in use).
        look = create_engine(settings.database_url, pool_size=1)
        try:

            async def waiting() -> bool:
                async with look.connect() as conn:
                    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    return bool(await conn.scalar(query))

            await eventually(waiting)
        finally:
            await look.dispose()
    await answered
    async with sessions() as session:
        offline = await session.scalar(
            select(stations.c.offline_since).where(stations.c.charge_point_id == cp_id)
        )
    assert offline is None
    assert len(await sent(sessions, cp_id)) == 2

"""A station that came back is asked what it holds before its profiles are sent again, against
the real Postgres: 2.0.1's GetChargingProfiles and the ReportChargingProfiles that answer it,
1.6's GetCompositeSchedule per connector, and the fall-back when the ask gets no answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import CallContext
from csms_shared.charging import ChargingProfile, to_v16_request, to_v201, to_v201_request
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.contracts.events import StationBooted, StationConnected
from csms_shared.contracts.rpc_loads import AssignStation
from csms_shared.contracts.rpc_profiles import OfStationProfile
from csms_shared.ocpp import v201
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.version import OcppVersion
from load_manager.db import profile_stations
from load_manager.profiles.action_reports import report_charging_profiles
from load_manager.profiles.follow_profiles import (
    command_completed,
    station_booted,
    station_connected,
    stations_booted,
    stations_connected,
)
from load_manager.profiles.rpc_profiles import clear_profile
from load_manager.profiles.sweeper import sweep_once
from load_manager.settings import Settings
from load_manager.sites.rpc_stations import assign_station

from .conftest import Rpc, new_site
from .test_profiles import V16, V201, answer_last, completed, listed, profile, sent, store


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


def connection(cp_id: str, version: OcppVersion) -> StationConnected:
    return StationConnected(
        charge_point_id=cp_id,
        gateway="g",
        connection_id=uuid.uuid4().hex,
        connected_at=datetime.now(UTC),
        subprotocol=f"ocpp{version.value}",
    )


def boot(cp_id: str, version: OcppVersion) -> StationBooted:
    return StationBooted(
        charge_point_id=cp_id,
        registration_status=RegistrationStatus.ACCEPTED,
        charge_point_vendor="ACME",
        charge_point_model="X1",
        ocpp_version=version,
    )


async def two_accepted(
    rpc: Rpc,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    cp_id: str,
    version: OcppVersion,
) -> tuple[ChargingProfile, ChargingProfile]:
    """Profiles 1 (connector 1) and 2 (connector 2) stored and accepted."""
    for profile_id in (1, 2):
        await store(rpc, cp_id, version, id=profile_id, connectorId=profile_id)
        await answer_last(rpc, sessions, settings, cp_id, version)
    return profile(id=1), profile(id=2, connectorId=2)


async def report(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    cp_id: str,
    asked: BackOfficeRequest,
    held: list[ChargingProfile],
    *,
    tbc: bool = False,
    request_id: int | None = None,
) -> None:
    """One ReportChargingProfiles of the station, for one EVSE, as the runtime hands it over."""
    body = v201.ReportChargingProfilesRequest(
        request_id=asked.payload["requestId"] if request_id is None else request_id,
        charging_limit_source=v201.ChargingLimitSourceEnum.CSO,
        charging_profile=[to_v201(p) for p in held],
        evse_id=held[0].connector_id,
        tbc=tbc,
    )
    async with sessions() as session, session.begin():
        ctx = CallContext(session, settings, charge_point_id=cp_id, ocpp_version=V201)
        assert await report_charging_profiles(body, ctx) == v201.ReportChargingProfilesResponse()


def actions(requests: list[BackOfficeRequest]) -> list[tuple[str, int | None]]:
    """Each request's action and the profile id it is about (None: an ask)."""
    found: list[tuple[str, int | None]] = []
    for r in requests:
        if r.action == "SetChargingProfile":
            p = r.payload.get("chargingProfile") or r.payload["csChargingProfiles"]
            found.append((r.action, p.get("id", p.get("chargingProfileId"))))
        elif r.action == "ClearChargingProfile":
            found.append((r.action, r.payload.get("chargingProfileId", r.payload.get("id"))))
        else:
            found.append((r.action, None))
    return found


async def test_a_2_0_1_station_holding_one_of_two_profiles_gets_only_the_other_again(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    first, second = await two_accepted(rpc, sessions, settings, cp_id, V201)
    before = len(await sent(sessions, cp_id))
    await rpc(station_connected, connection(cp_id, V201))
    [asked] = (await sent(sessions, cp_id))[before:]
    assert asked.action == "GetChargingProfiles"
    assert asked.payload["chargingProfile"] == {"chargingProfileId": [1, 2]}
    await answer_last(rpc, sessions, settings, cp_id, V201)  # Accepted: the reports follow
    assert len(await sent(sessions, cp_id)) == before + 1
    await report(sessions, settings, cp_id, asked, [first])
    again = (await sent(sessions, cp_id))[before + 1 :]
    assert [(r.action, r.payload) for r in again] == [
        ("SetChargingProfile", to_v201_request(second).to_payload())
    ]
    rows = await listed(rpc, cp_id)
    assert (rows[1].send.status, rows[2].send.status) == ("accepted", "pending")


async def test_report_parts_add_up_and_may_come_before_the_answer_to_the_ask(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    first, second = await two_accepted(rpc, sessions, settings, cp_id, V201)
    await rpc(station_booted, boot(cp_id, V201))
    asked = (await sent(sessions, cp_id))[-1]
    count = len(await sent(sessions, cp_id))
    # Another GetChargingProfiles' report (an operator's) is not this check's.
    await report(
        sessions, settings, cp_id, asked, [first], request_id=asked.payload["requestId"] + 1
    )
    await report(sessions, settings, cp_id, asked, [first], tbc=True)
    assert len(await sent(sessions, cp_id)) == count
    # Profile 2 as the station holds it: another limit.
    await report(sessions, settings, cp_id, asked, [profile(id=2, connectorId=2, **limit(10))])
    [again] = (await sent(sessions, cp_id))[count:]
    assert again.payload == to_v201_request(second).to_payload()
    # The ask's Accepted, landing after its reports, changes nothing.
    await rpc(command_completed, completed(settings, asked, version=V201, response=ACCEPTED))
    assert len(await sent(sessions, cp_id)) == count + 1


def limit(amps: int) -> dict[str, Any]:
    schedule = profile().schedules[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"schedules": [schedule | {"periods": [{"startPeriod": 0, "limit": amps}]}]}


ACCEPTED = {"status": "Accepted"}


async def test_a_profile_the_station_holds_is_accepted_and_a_clear_it_needs_not_is_done(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V201, id=1)
    await answer_last(rpc, sessions, settings, cp_id, V201, status="timeout")
    await store(rpc, cp_id, V201, id=2, connectorId=2)
    await answer_last(rpc, sessions, settings, cp_id, V201)
    await rpc(clear_profile, OfStationProfile(charge_point_id=cp_id, profile_id=2))
    await answer_last(rpc, sessions, settings, cp_id, V201, status="offline")
    rows = await listed(rpc, cp_id)
    assert (rows[1].send.status, rows[2].send.status) == ("failed", "failed")
    count = len(await sent(sessions, cp_id))

    await rpc(station_connected, connection(cp_id, V201))
    asked = (await sent(sessions, cp_id))[-1]
    await report(sessions, settings, cp_id, asked, [profile(id=1)])
    assert len(await sent(sessions, cp_id)) == count + 1  # the ask, nothing else
    rows = await listed(rpc, cp_id)
    assert list(rows) == [1]
    assert (rows[1].send.status, rows[1].send.reason) == (
        "accepted",
        "the station holds it (asked when it came back)",
    )


async def test_a_1_6_connector_whose_composite_matches_gets_nothing_one_that_differs_its_profiles(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    _, second = await two_accepted(rpc, sessions, settings, cp_id, V16)
    before = len(await sent(sessions, cp_id))
    await rpc(station_connected, connection(cp_id, V16))
    for connector, amps in ((1, 16), (2, 10)):  # connector 2 runs at 10 A, not the stored 16
        asked = (await sent(sessions, cp_id))[-1]
        assert (asked.action, asked.payload) == (
            "GetCompositeSchedule",
            {"connectorId": connector, "duration": 86400, "chargingRateUnit": "A"},
        )
        await answer_last(rpc, sessions, settings, cp_id, V16, response=composite(connector, amps))
    again = (await sent(sessions, cp_id))[before + 2 :]
    assert [(r.action, r.payload) for r in again] == [
        ("SetChargingProfile", to_v16_request(second).to_payload())
    ]


def composite(connector: int, amps: float) -> dict[str, Any]:
    """A 1.6 GetCompositeSchedule.conf: `amps` from the stored profiles' start for a day."""
    return {
        "status": "Accepted",
        "connectorId": connector,
        "scheduleStart": "2026-12-01T08:00:00Z",
        "chargingSchedule": {
            "duration": 86400,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
    }


async def test_a_1_6_composite_of_held_profiles_sends_nothing_and_settles_one_without_answer(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=1)
    await answer_last(rpc, sessions, settings, cp_id, V16, status="lost")
    await rpc(station_booted, boot(cp_id, V16))
    asked = (await sent(sessions, cp_id))[-1]
    assert asked.action == "GetCompositeSchedule"
    await answer_last(rpc, sessions, settings, cp_id, V16, response=composite(1, 16))
    assert (await sent(sessions, cp_id))[-1] == asked
    assert (await listed(rpc, cp_id))[1].send.status == "accepted"


async def test_an_ask_never_answered_is_given_up_and_a_boot_then_sends_everything(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await two_accepted(rpc, sessions, settings, cp_id, V201)
    await rpc(station_connected, connection(cp_id, V201))
    await rpc(station_booted, boot(cp_id, V201))  # the same check, now after a boot
    asked = (await sent(sessions, cp_id))[-1]
    assert actions((await sent(sessions, cp_id))[-2:]) == [
        ("SetChargingProfile", 2),
        ("GetChargingProfiles", None),
    ]
    await answer_last(rpc, sessions, settings, cp_id, V201)  # Accepted, and no report comes
    hasty = settings.model_copy(update={"command_timeout": 0.001, "command_answer_margin": 0})
    swept: list[str] = []
    while cp_id not in swept:  # stations other tests left waiting are swept too, by batches
        async with sessions() as session, session.begin():
            batch = await sweep_once(session, hasty)
        assert batch, "the check was not given up"
        swept += batch
    after = (await sent(sessions, cp_id))[-1]
    assert actions([after]) == [("SetChargingProfile", 1)]
    await answer_last(rpc, sessions, settings, cp_id, V201)
    assert actions((await sent(sessions, cp_id))[-1:]) == [("SetChargingProfile", 2)]
    # A report arriving after all is no longer the check's.
    await report(sessions, settings, cp_id, asked, [profile(id=1)])
    assert (await sent(sessions, cp_id))[-1].action == "SetChargingProfile"


async def returned_fleet(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> list[tuple[str, OcppVersion]]:
    """Four stations: with two profiles accepted (1.6, 2.0.1), with none, and on a site."""
    tag = uuid.uuid4().hex[:6]
    fleet = [(f"CP-{tag}-{n}", version) for n, version in enumerate((V16, V201, V16, V201))]
    for cp_id, version in fleet[:2]:
        await two_accepted(rpc, sessions, settings, cp_id, version)
    site = await new_site(rpc)
    placed, version = fleet[3]
    assignment = {"charge_point_id": placed, "node_id": site.id, "ocpp_version": version}
    await rpc(assign_station, AssignStation.model_validate(assignment))
    return fleet


@pytest.mark.parametrize("kind", ["connected", "booted"])
async def test_a_group_of_returns_asks_and_sends_what_each_alone_would(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, kind: str
) -> None:
    """Stations with stored profiles, one with none, one on a site, one twice: the group
    handler queues the same commands as the one-event handler run event after event, and
    remembers every connection."""
    made = {"connected": connection, "booted": boot}[kind]
    one = {"connected": station_connected, "booted": station_booted}[kind]
    group = {"connected": stations_connected, "booted": stations_booted}[kind]
    outcomes = []
    for together in (False, True):
        fleet = await returned_fleet(rpc, sessions, settings)
        before = {cp_id: len(await sent(sessions, cp_id)) for cp_id, _ in fleet}
        order = [1, 0, 2, 3, 0]
        events = [made(*fleet[n]) for n in order]
        if together:
            await rpc(group, events)  # type: ignore[arg-type]
        else:
            for event in events:
                await rpc(one, event)  # type: ignore[arg-type]
        queued = [actions((await sent(sessions, cp))[before[cp] :]) for cp, _ in fleet]
        remembered = [await connected_at(sessions, cp) is not None for cp, _ in fleet]
        outcomes.append((queued, remembered))
    assert outcomes[0] == outcomes[1]
    queued, remembered = outcomes[1]
    # The stored profiles' stations were asked (1.6 per connector); the others were not.
    assert queued[0] and queued[1] and not queued[2]
    assert remembered == [kind == "connected"] * 4


async def connected_at(sessions: async_sessionmaker[AsyncSession], cp_id: str) -> Any:
    async with sessions() as session:
        ps = profile_stations.c
        return await session.scalar(select(ps.connected_at).where(ps.charge_point_id == cp_id))

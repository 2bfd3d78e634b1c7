"""Stored charging profiles against the real Postgres: each change queues its command request in
the same transaction, and the answers that come back as `command.completed` land on the row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.rpc import RpcError
from csms_shared.charging import (
    ChargingProfile,
    RateUnit,
    composite_schedule,
    to_v16_request,
    to_v201_request,
)
from csms_shared.contracts.command_requests import BackOfficeRequest
from csms_shared.contracts.events import CommandCompleted, StationBooted, StationConnected
from csms_shared.contracts.resources_profiles import StoredChargingProfile
from csms_shared.contracts.rpc_loads import AssignStation
from csms_shared.contracts.rpc_profiles import (
    ComputeComposite,
    ListStationProfiles,
    OfStationProfile,
    StoreProfile,
)
from csms_shared.ocpp.v16.enums import RegistrationStatus
from csms_shared.ocpp.version import OcppVersion
from load_manager.commands import requester
from load_manager.db import command_outbox
from load_manager.profiles.follow_profiles import (
    command_completed,
    station_booted,
    station_connected,
)
from load_manager.profiles.rpc_profiles import (
    clear_profile,
    composite,
    list_profiles,
    store_profile,
)
from load_manager.settings import Settings
from load_manager.sites.rpc_stations import assign_station

from .conftest import Rpc, new_site

V16, V201 = OcppVersion.V16, OcppVersion.V201
START = "2026-12-01T08:00:00Z"


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


def profile(**fields: Any) -> ChargingProfile:
    """A TxDefaultProfile of 16 A on connector 1 from START, with `fields` changed."""
    body: dict[str, Any] = {
        "id": 1,
        "stackLevel": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "connectorId": 1,
        "schedules": [
            {"startSchedule": START, "rateUnit": "A", "periods": [{"startPeriod": 0, "limit": 16}]}
        ],
    }
    return ChargingProfile.model_validate(body | fields)


async def sent(sessions: async_sessionmaker[AsyncSession], cp_id: str) -> list[BackOfficeRequest]:
    """The command requests queued for a station, oldest first."""
    async with sessions() as session:
        bodies = await session.scalars(
            select(command_outbox.c.body)
            .where(command_outbox.c.routing_key == cp_id)
            .order_by(command_outbox.c.id)
        )
        return [BackOfficeRequest.model_validate_json(body) for body in bodies]


async def store(rpc: Rpc, cp_id: str, version: OcppVersion, **fields: Any) -> StoredChargingProfile:
    params = StoreProfile(charge_point_id=cp_id, ocpp_version=version, profile=profile(**fields))
    return await rpc(store_profile, params)


async def answer_last(
    rpc: Rpc,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    cp_id: str,
    version: OcppVersion,
    **fields: Any,
) -> BackOfficeRequest:
    """Answer the station's newest request (ACCEPTED unless `fields` say otherwise)."""
    request = (await sent(sessions, cp_id))[-1]
    fields.setdefault("response", None if "status" in fields else ACCEPTED)
    await rpc(command_completed, completed(settings, request, version=version, **fields))
    return request


async def listed(rpc: Rpc, cp_id: str) -> dict[int, StoredChargingProfile]:
    page = await rpc(list_profiles, ListStationProfiles(charge_point_id=cp_id))
    assert page.total == len(page.items)
    return {item.profile.id: item for item in page.items}


def completed(
    settings: Settings,
    request: BackOfficeRequest,
    *,
    version: OcppVersion,
    status: str = "result",
    response: dict[str, Any] | None = None,
    **fields: Any,
) -> CommandCompleted:
    """The command.completed that command-api publishes for one of the load-manager's requests."""
    return CommandCompleted(
        command_id=str(uuid.uuid4()),
        charge_point_id=request.charge_point_id,
        action=request.action,
        request=request.payload,
        status=status,
        requested_by=requester(settings),
        response=response,
        request_id=request.request_id,
        ocpp_version=version,
        **fields,
    )


ACCEPTED = {"status": "Accepted"}


async def test_a_stored_profile_is_sent_in_the_stations_version_and_its_answer_lands(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    row = await store(rpc, cp_id, V16)
    assert (row.send.action, row.send.status, row.ocpp_version) == (
        "SetChargingProfile",
        "pending",
        "1.6",
    )
    assert row.send.command_id is None and row.send.answered_at is None
    [request] = await sent(sessions, cp_id)
    assert (request.charge_point_id, request.action) == (cp_id, "SetChargingProfile")
    assert request.payload == to_v16_request(profile()).to_payload()

    event = completed(settings, request, version=V16, response=ACCEPTED)
    await rpc(command_completed, event)
    answered = (await listed(rpc, cp_id))[1]
    assert (answered.send.status, answered.send.outcome, answered.send.command_id) == (
        "accepted",
        "result",
        event.command_id,
    )
    assert answered.send.response == ACCEPTED and answered.send.answered_at == event.at
    assert answered.profile == profile() and answered.created_at == row.created_at


async def test_a_2_0_1_station_gets_its_own_spelling_and_a_rejection_is_recorded(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V201)
    [request] = await sent(sessions, cp_id)
    assert request.payload == to_v201_request(profile()).to_payload()
    refusal = {"status": "Rejected", "statusInfo": {"reasonCode": "TxNotFound"}}
    await rpc(command_completed, completed(settings, request, version=V201, response=refusal))
    row = (await listed(rpc, cp_id))[1]
    assert (row.send.status, row.send.reason) == (
        "rejected",
        "the station answered Rejected (TxNotFound)",
    )


async def test_no_answer_is_a_failure_and_a_reconnection_sends_those_again(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=1)
    await store(rpc, cp_id, V16, id=2, connectorId=2)
    # One command at a time: the second waits for the first's outcome.
    [first] = await sent(sessions, cp_id)
    assert (await listed(rpc, cp_id))[2].send.status == "pending"
    offline = completed(
        settings, first, version=V16, status="offline", reason="CP-1 is not connected"
    )
    await rpc(command_completed, offline)
    _, second = await sent(sessions, cp_id)
    assert second.payload == to_v16_request(profile(id=2, connectorId=2)).to_payload()
    await rpc(command_completed, completed(settings, second, version=V16, response=ACCEPTED))
    rows = await listed(rpc, cp_id)
    assert (rows[1].send.status, rows[1].send.outcome, rows[1].send.reason) == (
        "failed",
        "offline",
        "CP-1 is not connected",
    )

    connected = StationConnected(
        charge_point_id=cp_id,
        gateway="g",
        connection_id="c",
        connected_at=datetime.now(UTC),
        subprotocol="ocpp1.6",
    )
    await rpc(station_connected, connected)
    # It is asked first what it holds; one that cannot say gets what got no answer again.
    [asked] = (await sent(sessions, cp_id))[2:]
    assert (asked.action, asked.payload["connectorId"]) == ("GetCompositeSchedule", 1)
    await answer_last(
        rpc, sessions, settings, cp_id, V16, status="error", error_code="NotSupported"
    )
    again = (await sent(sessions, cp_id))[3:]
    assert [(r.action, r.payload) for r in again] == [
        ("SetChargingProfile", to_v16_request(profile(id=1)).to_payload())
    ]
    rows = await listed(rpc, cp_id)
    assert (rows[1].send.status, rows[2].send.status) == ("pending", "accepted")
    # The answer to the superseded request changes nothing.
    await rpc(command_completed, completed(settings, first, version=V16, response=ACCEPTED))
    assert (await listed(rpc, cp_id))[1].send.status == "pending"


async def test_an_accepted_boot_sends_everything_again_clears_first(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=1)
    await answer_last(rpc, sessions, settings, cp_id, V16)
    await store(rpc, cp_id, V16, id=2, connectorId=2)
    await answer_last(rpc, sessions, settings, cp_id, V16)
    await rpc(clear_profile, OfStationProfile(charge_point_id=cp_id, profile_id=2))
    before = len(await sent(sessions, cp_id))

    def boot(status: RegistrationStatus) -> StationBooted:
        return StationBooted(
            charge_point_id=cp_id,
            registration_status=status,
            charge_point_vendor="ACME",
            charge_point_model="X1",
            ocpp_version=V16,
        )

    await rpc(station_booted, boot(RegistrationStatus.PENDING))
    assert len(await sent(sessions, cp_id)) == before
    await rpc(station_booted, boot(RegistrationStatus.ACCEPTED))
    # The clear sent before the reboot is still on its way: the ask waits for its outcome.
    assert len(await sent(sessions, cp_id)) == before
    await answer_last(rpc, sessions, settings, cp_id, V16, status="offline")
    # A charge point that cannot tell what it holds gets everything again, the clear first.
    await answer_last(rpc, sessions, settings, cp_id, V16, response={"status": "Rejected"})
    await answer_last(rpc, sessions, settings, cp_id, V16, response={"status": "Unknown"})
    again = (await sent(sessions, cp_id))[before:]
    assert [(r.action, r.payload) for r in again] == [
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 86400, "chargingRateUnit": "A"}),
        ("ClearChargingProfile", {"id": 2}),
        ("SetChargingProfile", to_v16_request(profile()).to_payload()),
    ]


async def test_a_station_back_in_the_other_version_keeps_a_profile_it_cannot_take_unsent(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    # Valid in 1.6 (an Absolute schedule without a start runs from the charging's start), not
    # in 2.0.1 (K01.FR.40).
    loose = {"rateUnit": "A", "periods": [{"startPeriod": 0, "limit": 10}]}
    await store(rpc, cp_id, V16, schedules=[loose])
    booted = StationBooted(
        charge_point_id=cp_id,
        registration_status=RegistrationStatus.ACCEPTED,
        charge_point_vendor="ACME",
        charge_point_model="X1",
        ocpp_version=V201,
    )
    await rpc(station_booted, booted)
    assert len(await sent(sessions, cp_id)) == 1
    # Once the Set before the reboot is settled, the station is asked, and holds none of it.
    await answer_last(rpc, sessions, settings, cp_id, V16, status="offline")
    asked = (await sent(sessions, cp_id))[-1]
    assert (asked.action, asked.payload["chargingProfile"]) == (
        "GetChargingProfiles",
        {"chargingProfileId": [1]},
    )
    await answer_last(rpc, sessions, settings, cp_id, V201, response={"status": "NoProfiles"})
    assert len(await sent(sessions, cp_id)) == 2
    row = (await listed(rpc, cp_id))[1]
    assert (row.send.status, row.ocpp_version) == ("failed", "2.0.1")
    assert row.send.reason is not None and "not valid in OCPP 2.0.1" in row.send.reason
    assert "schedules[0].startSchedule" in row.send.reason


async def test_a_1_6_profile_replaces_the_older_one_of_its_purpose_level_and_connector(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16, id=1)
    await store(rpc, cp_id, V16, id=2)  # same purpose, stack level and connector
    await store(rpc, cp_id, V16, id=3, stackLevel=1)
    assert set(await listed(rpc, cp_id)) == {1, 2, 3}
    # The older one's Accepted (a late answer, or a re-send's) never takes the newer with it.
    await answer_last(rpc, sessions, settings, cp_id, V16)
    assert set(await listed(rpc, cp_id)) == {1, 2, 3}
    second = await answer_last(rpc, sessions, settings, cp_id, V16)
    assert second.payload == to_v16_request(profile(id=2)).to_payload()
    assert set(await listed(rpc, cp_id)) == {2, 3}


async def test_a_2_0_1_station_would_refuse_a_second_profile_at_one_stack_level(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V201, id=1)
    with pytest.raises(RpcError, match=r"K01\.FR\.06") as caught:
        await store(rpc, cp_id, V201, id=2)
    assert caught.value.code == "conflict"
    assert len(await sent(sessions, cp_id)) == 1
    # Once the station rejected the first, it holds nothing there.
    [request] = await sent(sessions, cp_id)
    rejected = completed(settings, request, version=V201, response={"status": "Rejected"})
    await rpc(command_completed, rejected)
    assert (await store(rpc, cp_id, V201, id=2)).send.status == "pending"


async def test_a_profile_that_breaks_the_rules_or_one_too_many_is_refused(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    schedule = profile().schedules[0].model_dump(by_alias=True)
    with pytest.raises(RpcError, match=r"profile\.schedules: 1\.6 takes one schedule") as caught:
        await store(rpc, cp_id, V16, schedules=[schedule, schedule])
    assert caught.value.code == "invalid"
    few = Rpc(sessions, settings.model_copy(update={"max_station_profiles": 1}))
    await store(few, cp_id, V16, id=1)
    await store(few, cp_id, V16, id=1, stackLevel=3)  # its own id replaces it
    with pytest.raises(RpcError, match="has 1 stored profiles, the most") as caught:
        await store(few, cp_id, V16, id=2, connectorId=2)
    assert caught.value.code == "conflict"
    assert len(await sent(sessions, cp_id)) == 1  # the replacement waits for the first's answer


async def test_a_cleared_profile_goes_when_the_station_clears_it_or_holds_none(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    for profile_id in (1, 2, 3):
        await store(rpc, cp_id, V201, id=profile_id, connectorId=profile_id)
    for profile_id in (1, 2, 3):
        of = OfStationProfile(charge_point_id=cp_id, profile_id=profile_id)
        clearing = await rpc(clear_profile, of)
        assert (clearing.send.action, clearing.send.status) == ("ClearChargingProfile", "pending")
    # The first SetChargingProfile is still on its way; then the clears go, one at a time.
    assert [r.action for r in await sent(sessions, cp_id)] == ["SetChargingProfile"]
    await answer_last(rpc, sessions, settings, cp_id, V201)
    clear_one = await answer_last(rpc, sessions, settings, cp_id, V201)
    assert clear_one.payload == {"chargingProfileId": 1}
    # A clear answers Accepted or Unknown; without an answer the profile stays, marked.
    await answer_last(
        rpc, sessions, settings, cp_id, V201, status="error", error_code="InternalError"
    )
    clear_three = await answer_last(
        rpc, sessions, settings, cp_id, V201, response={"status": "Unknown"}
    )
    assert clear_three.payload == {"chargingProfileId": 3}
    rows = await listed(rpc, cp_id)
    assert set(rows) == {2}
    assert (rows[2].send.action, rows[2].send.status, rows[2].send.reason) == (
        "ClearChargingProfile",
        "failed",
        "CALLERROR InternalError",
    )
    with pytest.raises(RpcError, match=f"charge point {cp_id} has no stored profile 1") as caught:
        await rpc(clear_profile, OfStationProfile(charge_point_id=cp_id, profile_id=1))
    assert caught.value.code == "not_found"


async def test_only_the_load_managers_own_requests_are_answered(
    rpc: Rpc, sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    await store(rpc, cp_id, V16)
    [request] = await sent(sessions, cp_id)
    ours = completed(settings, request, version=V16, response=ACCEPTED)
    await rpc(command_completed, ours.model_copy(update={"requested_by": "broker:billing"}))
    assert (await listed(rpc, cp_id))[1].send.status == "pending"


async def test_the_composite_counts_the_stored_profiles_at_the_nodes_voltage(
    rpc: Rpc, cp_id: str
) -> None:
    capped = {
        "id": 9,
        "purpose": "StationMaxProfile",
        "connectorId": 0,
        "schedules": [
            {
                "startSchedule": START,
                "rateUnit": "W",
                "periods": [{"startPeriod": 0, "limit": 7200}],
            }
        ],
    }
    await store(rpc, cp_id, V16)
    await store(rpc, cp_id, V16, **capped)
    await store(rpc, cp_id, V16, id=5, connectorId=2, stackLevel=4)
    await rpc(clear_profile, OfStationProfile(charge_point_id=cp_id, profile_id=5))
    site = await new_site(rpc, voltage=240)
    await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=site.id))
    start = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    asking = ComputeComposite(
        charge_point_id=cp_id, connector_id=1, start=start, duration=7200, rate_unit=RateUnit.A
    )
    found = await rpc(composite, asking)
    expected = composite_schedule(
        [profile(), profile(**capped)],
        connector_id=1,
        start=start,
        duration=7200,
        rate_unit=RateUnit.A,
        voltage=240,
    )
    assert found == expected
    # Nothing before 08:00; then 7200 W over three phases at 240 V, 10 A, below the 16 A
    # TxDefault (the profile being cleared counts no more).
    assert [(p.start_period, p.limit) for p in found.periods] == [(0, None), (3600, Decimal(10))]

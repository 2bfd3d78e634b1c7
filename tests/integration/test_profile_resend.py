"""A station that comes back is asked what it holds before its stored profiles are sent again,
through the real suite: a 2.0.1 station answers GetChargingProfiles with ReportChargingProfiles
(which the registry keeps in its station messages too), a 1.6 charge point answers
GetCompositeSchedule, and one that cannot answer gets everything again after its boot."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from csms_shared.ocpp._base import format_datetime
from tests.integration.support import CallErrorReply, ChargePointClient, eventually
from tests.integration.test_charging_profiles import (
    BOOT,
    START,
    VERSIONS,
    answering,
    received,
    settled,
    station,
    stored,
    tx_default,
)
from tests.integration.test_v201_commands import calls

pytestmark = pytest.mark.integration


async def two_profiles(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> ChargePointClient:
    """A station holding profiles 1 (connector 1) and 2 (connector 2), both accepted."""
    cp = await station(api, connect_cp, cp_id, version)
    for profile_id in (1, 2):
        body = tx_default(profile_id, connectorId=profile_id)
        created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=body)
        assert created.status_code == 201, created.text
        await settled(api, cp_id, profile_id)
    return cp


def set_ids(cp: ChargePointClient, version: str) -> list[int]:
    """The profile ids of the SetChargingProfiles the station received, in order."""
    key = "csChargingProfiles" if version == "1.6" else "chargingProfile"
    ids = "chargingProfileId" if version == "1.6" else "id"
    return [p[key][ids] for p in received(cp, version, "SetChargingProfile")]


async def reconnect(
    api: httpx.AsyncClient, connect_cp: Any, cp: ChargePointClient, version: str
) -> ChargePointClient:
    """The station's connection dropped and came back (no boot); the new one answers Accepted
    until the test says otherwise."""
    await cp.close()
    again: ChargePointClient = await connect_cp(cp.cp_id, 0, subprotocols=[f"ocpp{version}"])
    answering(again)
    return again


async def test_a_2_0_1_station_holding_one_of_two_profiles_gets_only_the_other_again(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await two_profiles(api, connect_cp, cp_id, "2.0.1")
    [first, _] = received(cp, "2.0.1", "SetChargingProfile")
    back = await reconnect(api, connect_cp, cp, "2.0.1")
    reports: list[asyncio.Task[dict[str, Any]]] = []

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetChargingProfiles":
            # It holds profile 1 as sent, and lost profile 2: one report, after the answer.
            report = {
                "requestId": payload["requestId"],
                "chargingLimitSource": "CSO",
                "evseId": 1,
                "chargingProfile": [first["chargingProfile"]],
            }
            reports.append(asyncio.create_task(back.call("ReportChargingProfiles", report)))
        return {"status": "Accepted"}

    back.responder = answer

    async def sent_again() -> bool:
        return set_ids(back, "2.0.1") == [2]

    await eventually(sent_again)
    assert await reports[0] == {}
    [asked] = calls(back, "GetChargingProfiles")
    assert asked["chargingProfile"] == {"chargingProfileId": [1, 2]}
    row = await settled(api, cp_id, 2)
    assert row["send"]["status"] == "accepted"
    assert (await stored(api, cp_id))[1]["send"]["status"] == "accepted"
    # The registry still keeps the report among the station's messages.

    async def kept() -> list[dict[str, Any]]:
        listing = await api.get(
            f"/charge-points/{cp_id}/station-messages",
            params={"action": "ReportChargingProfiles"},
        )
        assert listing.status_code == 200, listing.text
        items: list[dict[str, Any]] = listing.json()["items"]
        return items

    [message] = await eventually(kept)
    assert (message["requestId"], message["tbc"]) == (asked["requestId"], False)
    assert set_ids(back, "2.0.1") == [2]


def composite(amps: float) -> dict[str, Any]:
    """A 1.6 GetCompositeSchedule.conf of connector 1: `amps` from START for a day."""
    return {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": format_datetime(START),
        "chargingSchedule": {
            "duration": 86400,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
        },
    }


async def test_a_1_6_charge_point_gets_its_profiles_again_only_when_its_composite_differs(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "1.6")
    created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default())
    assert created.status_code == 201, created.text
    await settled(api, cp_id)

    # Its composite is the stored profile's: nothing is sent again. A profile stored meanwhile
    # waits for the ask and goes after it; a re-send of profile 1 would have gone before it.
    same = await reconnect(api, connect_cp, cp, "1.6")
    answering(same, GetCompositeSchedule=composite(16))

    async def asked(cp: ChargePointClient) -> bool:
        return bool(calls(cp, "GetCompositeSchedule"))

    await eventually(lambda: asked(same))
    body = tx_default(2, connectorId=2)
    assert (await api.post(f"/charge-points/{cp_id}/charging-profiles", json=body)).is_success
    await settled(api, cp_id, 2)
    assert set_ids(same, "1.6") == [2]
    assert calls(same, "GetCompositeSchedule") == [
        {"connectorId": 1, "duration": 86400, "chargingRateUnit": "A"}
    ]

    # Connector 1 runs at 10 A, not the stored 16: its profile goes again; connector 2 (its
    # composite the stored one's) keeps its own.
    other = await reconnect(api, connect_cp, same, "1.6")

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetCompositeSchedule":
            amps = 10 if payload["connectorId"] == 1 else 16
            return composite(amps) | {"connectorId": payload["connectorId"]}
        return {"status": "Accepted"}

    other.responder = answer

    async def sent_again() -> bool:
        return set_ids(other, "1.6") == [1]

    await eventually(sent_again)
    assert [c["connectorId"] for c in calls(other, "GetCompositeSchedule")] == [1, 2]
    assert (await settled(api, cp_id, 1))["send"]["status"] == "accepted"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_station_that_cannot_say_what_it_holds_gets_everything_again_after_its_boot(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await two_profiles(api, connect_cp, cp_id, version)
    back = await reconnect(api, connect_cp, cp, version)
    ask = "GetCompositeSchedule" if version == "1.6" else "GetChargingProfiles"

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == ask:
            raise CallErrorReply("NotSupported", "no smart charging here", {})
        return {"status": "Accepted"}

    back.responder = answer
    await back.call("BootNotification", BOOT[version])

    async def sent_again() -> bool:
        return sorted(set_ids(back, version)) == [1, 2]

    await eventually(sent_again)
    assert calls(back, ask)
    for profile_id in (1, 2):
        assert (await settled(api, cp_id, profile_id))["send"]["status"] == "accepted"

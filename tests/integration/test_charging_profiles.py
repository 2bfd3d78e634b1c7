"""Charging profiles as data, through the real suite: stored over REST, checked against the rules
of the version each station speaks, sent by the load-manager through the audited command path
to a 1.6 charge point and a 2.0.1 station, answered on their rows, cleared, sent again after a
reboot that lost them; and the composite schedule as the station answers it beside the computed
one."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import ocpp
import pytest

from csms_shared.ocpp._base import format_datetime
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_sites import problem, unique
from tests.integration.test_v201_commands import calls

pytestmark = pytest.mark.integration

VERSIONS = ["1.6", "2.0.1"]
BOOT = {
    "1.6": {"chargePointVendor": "ACME", "chargePointModel": "X1"},
    "2.0.1": {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "X1"}},
}
# The request schemas of SetChargingProfile, ClearChargingProfile and GetCompositeSchedule.
SCHEMA_NAMES = {"1.6": ("v16", "{}.json"), "2.0.1": ("v201", "{}Request.json")}
START = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


@cache
def schema(version: str, action: str) -> dict[str, Any]:
    folder, name = SCHEMA_NAMES[version]
    path = Path(ocpp.__file__).parent / folder / "schemas" / name.format(action)
    # Numbers read as Decimal, as the `ocpp` package's strict validator reads these schemas: with
    # floats, jsonschema's `multipleOf: 0.1` refuses 9.2 (9.2 / 0.1 == 91.99999999999999).
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    return loaded


def received(cp: ChargePointClient, version: str, action: str) -> list[dict[str, Any]]:
    """What the station received of `action`, each checked against the version's schema."""
    payloads = calls(cp, action)
    for payload in payloads:
        jsonschema.validate(
            json.loads(json.dumps(payload), parse_float=Decimal), schema(version, action)
        )
    return payloads


def tx_default(profile_id: int = 1, limit: float = 16, **fields: Any) -> dict[str, Any]:
    """A TxDefaultProfile body for connector/EVSE 1 from START, in the REST spelling."""
    return {
        "id": profile_id,
        "stackLevel": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "connectorId": 1,
        "schedules": [
            {
                "startSchedule": format_datetime(START),
                "rateUnit": "A",
                "periods": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **fields,
    }


def answering(cp: ChargePointClient, **answers: dict[str, Any]) -> None:
    """The station answers each action as given (Accepted otherwise)."""

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return answers.get(action, {"status": "Accepted"})

    cp.responder = answer


async def station(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> ChargePointClient:
    """A station connected in `version`, answering Accepted, once the registry has it online.
    It does not boot: a boot sends the stored profiles again, and one followed only after the
    test stored its first profile would send that profile twice."""
    cp: ChargePointClient = await connect_cp(cp_id, 0, subprotocols=[f"ocpp{version}"])
    answering(cp)

    async def online() -> bool:
        response = await api.get(f"/charge-points/{cp_id}")
        found = response.json() if response.status_code == 200 else {}
        return bool(found.get("online")) and found.get("ocppVersion") == version

    await eventually(online)
    return cp


async def stored(api: httpx.AsyncClient, cp_id: str) -> dict[int, dict[str, Any]]:
    response = await api.get(f"/charge-points/{cp_id}/charging-profiles")
    assert response.status_code == 200, response.text
    return {item["profile"]["id"]: item for item in response.json()["items"]}


async def settled(api: httpx.AsyncClient, cp_id: str, profile_id: int = 1) -> dict[str, Any]:
    """The stored profile once its last command is answered (or failed)."""

    async def answered() -> dict[str, Any] | None:
        row = (await stored(api, cp_id)).get(profile_id)
        return row if row is not None and row["send"]["status"] != "pending" else None

    found: dict[str, Any] = await eventually(answered)
    return found


@pytest.fixture
async def viewer(api: httpx.AsyncClient, suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    key = await api.post("/api-keys", json={"name": unique("profiles-viewer"), "role": "viewer"})
    assert key.status_code == 201, key.text
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {key.json()['key']}"}
    ) as client:
        yield client


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_profile_reaches_the_station_and_its_accepted_lands_on_its_row(
    api: httpx.AsyncClient, viewer: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default())
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["chargePointId"], body["ocppVersion"], body["profile"]) == (
        cp_id,
        version,
        tx_default(),
    )
    assert (body["send"]["action"], body["send"]["status"]) == ("SetChargingProfile", "pending")

    row = await settled(api, cp_id)
    assert (row["send"]["status"], row["send"]["outcome"]) == ("accepted", "result")
    assert row["send"]["response"] == {"status": "Accepted"}
    [sent] = received(cp, version, "SetChargingProfile")
    if version == "1.6":
        assert sent["connectorId"] == 1
        assert sent["csChargingProfiles"]["chargingProfilePurpose"] == "TxDefaultProfile"
        assert sent["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16.0}
        ]
    else:
        assert sent["evseId"] == 1
        assert sent["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16.0}
        ]
    # Audited as any command, under the load-manager's broker user.
    command = (await api.get(f"/commands/{row['send']['commandId']}")).json()
    assert (command["action"], command["status"], command["chargePointId"]) == (
        "SetChargingProfile",
        "result",
        cp_id,
    )
    assert command["requestedBy"].startswith("broker:")
    assert command["requestId"].startswith("load-manager:")
    # A viewer reads them, and changes nothing.
    assert (await stored(viewer, cp_id))[1]["send"]["status"] == "accepted"
    refused = await viewer.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default(2))
    problem(refused, 403)
    problem(await viewer.delete(f"/charge-points/{cp_id}/charging-profiles/1"), 403)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_rejected_profile_is_recorded_with_the_stations_answer(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    answering(cp, SetChargingProfile={"status": "Rejected"})
    created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default())
    assert created.status_code == 201, created.text
    row = await settled(api, cp_id)
    assert (row["send"]["status"], row["send"]["reason"]) == (
        "rejected",
        "the station answered Rejected",
    )
    assert len(received(cp, version, "SetChargingProfile")) == 1


async def test_each_version_refuses_what_its_rules_forbid_naming_every_field(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    v16_id, v201_id = f"CP-{uuid.uuid4().hex[:10]}", f"CS-{uuid.uuid4().hex[:10]}"
    cp16 = await station(api, connect_cp, v16_id, "1.6")
    cs201 = await station(api, connect_cp, v201_id, "2.0.1")
    schedule = tx_default()["schedules"][0]

    # 1.6 takes one schedule; a TxProfile names its transaction, as an integer.
    two = await api.post(
        f"/charge-points/{v16_id}/charging-profiles",
        json=tx_default(schedules=[schedule, schedule], purpose="TxProfile", transactionId="x"),
    )
    refusal = problem(two, 422, "OCPP 1.6")
    assert refusal["type"] == "https://csms.example/problems/invalid-charging-profile"
    assert refusal["ocppVersion"] == "1.6"
    assert [(e["field"], e["loc"]) for e in refusal["errors"]] == [
        ("schedules", ["body", "schedules"]),
        ("transactionId", ["body", "transactionId"]),
    ]
    # The same body with one schedule and no transaction is fine for 2.0.1 but for the
    # TxProfile's transaction (K01.FR.03), and a period that does not start at 0 (K01.FR.31).
    late = {**schedule, "periods": [{"startPeriod": 60, "limit": 16}]}
    tx = await api.post(
        f"/charge-points/{v201_id}/charging-profiles",
        json=tx_default(purpose="TxProfile", schedules=[late]),
    )
    refusal = problem(tx, 422, "OCPP 2.0.1")
    assert [(e["field"], e["rule"]) for e in refusal["errors"]] == [
        ("transactionId", "K01.FR.03"),
        ("schedules[0].periods[0].startPeriod", "K01.FR.31"),
    ]
    assert refusal["errors"][1]["loc"] == ["body", "schedules", 0, "periods", 0, "startPeriod"]
    # What breaks the model itself is the usual 422 of the route's schema.
    problem(
        await api.post(f"/charge-points/{v201_id}/charging-profiles", json={"id": 1}),
        422,
        "body.stackLevel",
    )
    # 2.0.1 refuses a second profile of one purpose and stack level on an EVSE: 409.
    assert (
        await api.post(f"/charge-points/{v201_id}/charging-profiles", json=tx_default())
    ).status_code == 201
    problem(
        await api.post(f"/charge-points/{v201_id}/charging-profiles", json=tx_default(2)),
        409,
        "K01.FR.06",
    )
    # A CP the registry does not know, one that never connected.
    problem(
        await api.post("/charge-points/CP-NEVER-SEEN/charging-profiles", json=tx_default()), 404
    )
    registered = f"CP-{uuid.uuid4().hex[:10]}"
    assert (await api.put(f"/charge-points/{registered}", json={"securityProfile": 0})).is_success
    problem(
        await api.post(f"/charge-points/{registered}/charging-profiles", json=tx_default()),
        409,
        "never connected",
    )
    await settled(api, v201_id)
    assert received(cp16, "1.6", "SetChargingProfile") == []
    assert len(received(cs201, "2.0.1", "SetChargingProfile")) == 1
    assert set(await stored(api, v16_id)) == set()


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_deleted_profile_is_cleared_on_the_station_then_gone(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    assert (
        await api.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default(7))
    ).status_code == 201
    await settled(api, cp_id, 7)
    deleted = await api.delete(f"/charge-points/{cp_id}/charging-profiles/7")
    assert deleted.status_code == 202, deleted.text
    assert (deleted.json()["send"]["action"], deleted.json()["send"]["status"]) == (
        "ClearChargingProfile",
        "pending",
    )

    async def gone() -> bool:
        return 7 not in await stored(api, cp_id)

    await eventually(gone)
    cleared = received(cp, version, "ClearChargingProfile")
    assert cleared == [{"id": 7} if version == "1.6" else {"chargingProfileId": 7}]
    problem(await api.delete(f"/charge-points/{cp_id}/charging-profiles/7"), 404, "no stored")


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_composite_schedule_shows_the_stations_answer_beside_the_computed_one(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    assert (
        await api.post(f"/charge-points/{cp_id}/charging-profiles", json=tx_default(limit=20))
    ).status_code == 201
    await settled(api, cp_id)
    at = format_datetime(START)
    period = {"startPeriod": 0, "limit": 20.0}
    if version == "1.6":
        answer: dict[str, Any] = {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": at,
            "chargingSchedule": {
                "duration": 600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [period],
            },
        }
    else:
        answer = {
            "status": "Accepted",
            "schedule": {
                "evseId": 1,
                "duration": 600,
                "scheduleStart": at,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [period],
            },
        }
    answering(cp, GetCompositeSchedule=answer)
    asked: dict[str, str | int] = {"connectorId": 1, "duration": 600, "rateUnit": "A"}
    response = await api.get(f"/charge-points/{cp_id}/composite-schedule", params=asked)
    assert response.status_code == 200, response.text
    body = response.json()
    window = {"connectorId": 1, "scheduleStart": at, "duration": 600, "rateUnit": "A"}
    assert body["station"] == {
        **window,
        "periods": [{"startPeriod": 0, "limit": 20, "numberPhases": None}],
    }
    assert body["computed"] == {
        **window,
        "periods": [{"startPeriod": 0, "limit": 20, "numberPhases": 3}],
    }
    assert "stationError" not in body
    [sent] = received(cp, version, "GetCompositeSchedule")
    key = "connectorId" if version == "1.6" else "evseId"
    assert sent == {key: 1, "duration": 600, "chargingRateUnit": "A"}
    command = (await api.get(f"/commands/{body['commandId']}")).json()
    assert (command["action"], command["status"]) == ("GetCompositeSchedule", "result")

    # A station that rejects: its answer is null with the reason, the computed one still there.
    answering(cp, GetCompositeSchedule={"status": "Rejected"})
    rejected = (await api.get(f"/charge-points/{cp_id}/composite-schedule", params=asked)).json()
    assert rejected["station"] is None
    assert rejected["stationError"]["outcome"] == "Rejected"
    assert rejected["computed"]["rateUnit"] == "A"

    if version == "1.6":  # 1.6's schema sets no minimum on a limit: a negative one is unreadable
        odd = answer | {
            "chargingSchedule": answer["chargingSchedule"]
            | {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1}]}
        }
        answering(cp, GetCompositeSchedule=odd)
        unreadable = await api.get(f"/charge-points/{cp_id}/composite-schedule", params=asked)
        assert unreadable.status_code == 200, unreadable.text
        assert unreadable.json()["station"] is None
        assert unreadable.json()["stationError"]["outcome"] == "Unreadable"


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_reboot_without_the_profiles_sends_every_stored_profile_again(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    for profile_id in (1, 2):
        body = tx_default(profile_id, connectorId=profile_id)
        created = await api.post(f"/charge-points/{cp_id}/charging-profiles", json=body)
        assert created.status_code == 201, created.text
        await settled(api, cp_id, profile_id)
    assert len(received(cp, version, "SetChargingProfile")) == 2
    first = (await stored(api, cp_id))[1]["send"]["commandId"]

    # It came back without them: asked first (test_profile_resend.py), it holds none.
    answering(
        cp,
        GetChargingProfiles={"status": "NoProfiles"},
        GetCompositeSchedule={"status": "Rejected"},
    )
    await cp.call("BootNotification", BOOT[version])

    async def sent_again() -> bool:
        return len(received(cp, version, "SetChargingProfile")) == 4

    await eventually(sent_again)
    again = await settled(api, cp_id, 1)
    assert again["send"]["status"] == "accepted" and again["send"]["commandId"] != first
    assert (await settled(api, cp_id, 2))["send"]["status"] == "accepted"


def first_limit(request: dict[str, Any], version: str) -> tuple[int, float]:
    """A SetChargingProfile's profile id and the limit of its first period."""
    if version == "1.6":
        profile = request["csChargingProfiles"]
        schedule = profile["chargingSchedule"]
        return profile["chargingProfileId"], schedule["chargingSchedulePeriod"][0]["limit"]
    profile = request["chargingProfile"]
    return profile["id"], profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_commands_made_in_quick_succession_reach_the_station_in_their_order(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, version: str
) -> None:
    cp = await station(api, connect_cp, cp_id, version)
    profiles = f"/charge-points/{cp_id}/charging-profiles"
    for limit in (32, 16):
        created = await api.post(profiles, json=tx_default(5, limit=limit))
        assert created.status_code == 201, created.text
    created = await api.post(profiles, json=tx_default(6, connectorId=2))
    assert created.status_code == 201, created.text
    assert (await api.delete(f"{profiles}/6")).status_code == 202

    async def gone() -> bool:
        return 6 not in await stored(api, cp_id)

    await eventually(gone)
    row = await settled(api, cp_id, 5)
    assert (row["send"]["status"], row["profile"]) == ("accepted", tx_default(5, limit=16))
    # One at a time, in the order they were made: the 16 A after the 32 A, and the Clear of 6
    # after any Set of 6 (a Set that had not left yet is never sent: the delete superseded it;
    # waiting commands go clears first).
    sets = [first_limit(s, version) for s in received(cp, version, "SetChargingProfile")]
    assert [limit for profile_id, limit in sets if profile_id == 5] == [32, 16]
    cleared = {"id": 6} if version == "1.6" else {"chargingProfileId": 6}
    assert received(cp, version, "ClearChargingProfile") == [cleared]
    sixes = [
        a
        for a, p in cp.received_calls
        if p == cleared or (a == "SetChargingProfile" and first_limit(p, version)[0] == 6)
    ]
    assert sixes[-1] == "ClearChargingProfile"

"""Fleet-wide commands: one action to many CPs, listed or by tag, answered per CP or polled."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def _fleet(connect_cp: Any, count: int) -> list[Any]:
    prefix = f"FLEET-{uuid.uuid4().hex[:6]}"
    cps = []
    for n in range(count):
        cp = await connect_cp(f"{prefix}-{n}", n % 2)
        await cp.call("BootNotification", BOOT)

        async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return {"status": "Accepted"}

        cp.responder = answer
        cps.append(cp)
    return cps


async def test_a_fleet_command_reaches_three_cps_and_answers_for_each(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    cps = await _fleet(connect_cp, 3)
    never = f"NEVER-{uuid.uuid4().hex[:6]}"
    response = await api.post(
        "/commands/Reset",
        json={"chargePointIds": [cp.cp_id for cp in cps] + [never], "payload": {"type": "Soft"}},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    by_cp = {item["chargePointId"]: item for item in result["items"]}
    for cp in cps:
        assert by_cp[cp.cp_id]["status"] == "result"
        assert by_cp[cp.cp_id]["response"] == {"status": "Accepted"}
        assert cp.received_calls == [("Reset", {"type": "Soft"})]
    assert by_cp[never]["status"] == "unknown_charge_point"
    assert result["summary"] == {"result": 3, "unknown_charge_point": 1}

    batch = (await api.get(f"/command-batches/{result['batchId']}")).json()
    assert batch["summary"]["result"] == 3
    assert {c["batchId"] for c in batch["items"]} == {result["batchId"]}


async def test_a_fleet_command_by_tag_without_waiting_is_a_batch_to_poll(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    cps = await _fleet(connect_cp, 3)
    tag = f"depot-{uuid.uuid4().hex[:6]}"
    for cp in cps[:2]:
        assert (await api.patch(f"/charge-points/{cp.cp_id}", json={"tags": [tag]})).is_success
    response = await api.post(
        "/commands/ChangeAvailability",
        params={"wait": "false"},
        json={"tag": tag, "payload": {"connectorId": 0, "type": "Operative"}},
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batchId"]
    assert response.json()["total"] == 2

    async def done() -> dict[str, Any] | None:
        batch = (await api.get(f"/command-batches/{batch_id}")).json()
        return batch if batch["pending"] == 0 else None

    batch = await eventually(done, timeout=30)
    assert sorted(c["chargePointId"] for c in batch["items"]) == sorted(c.cp_id for c in cps[:2])
    assert all(c["status"] == "result" for c in batch["items"])
    assert cps[2].received_calls == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/commands/Reset", {"payload": {"type": "Soft"}}),
        ("/commands/Reset", {"chargePointIds": ["CP-1"], "tag": "x", "payload": {"type": "Soft"}}),
        ("/commands/Reset", {"chargePointIds": ["CP-1"], "payload": {"type": "Warm"}}),
        ("/commands/Reset", {"chargePointIds": [], "payload": {"type": "Soft"}}),
        ("/commands/Reset", {"chargePointIds": ["bad id"], "payload": {"type": "Soft"}}),
        ("/commands/Reboot", {"chargePointIds": ["CP-1"], "payload": {}}),
        ("/commands/Reset", {"chargePointIds": ["CP-1"], "payload": {"type": "Soft"}, "x": 1}),
    ],
)
async def test_bad_fleet_commands_are_problem_422s(
    api: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await api.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_polled_batch_lists_the_cps_refused_before_any_command(
    api: httpx.AsyncClient, connect_cp: Any
) -> None:
    able, core_only = await _fleet(connect_cp, 2)

    async def core(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "GetConfiguration":
            return {
                "configurationKey": [
                    {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"}
                ]
            }
        return {"status": "Accepted"}

    core_only.responder = core
    read = await api.post(f"/charge-points/{core_only.cp_id}/commands/GetConfiguration", json={})
    assert read.status_code == 200, read.text

    async def profiles_known() -> bool:
        doc = (await api.get(f"/charge-points/{core_only.cp_id}")).json()
        return any(e["key"] == "SupportedFeatureProfiles" for e in doc.get("configuration", []))

    await eventually(profiles_known)
    never = f"NEVER-{uuid.uuid4().hex[:6]}"
    response = await api.post(
        "/commands/TriggerMessage",
        params={"wait": "false"},
        json={
            "chargePointIds": [able.cp_id, core_only.cp_id, never],
            "payload": {"requestedMessage": "Heartbeat"},
        },
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batchId"]

    async def done() -> dict[str, Any] | None:
        batch = (await api.get(f"/command-batches/{batch_id}")).json()
        return batch if batch["pending"] == 0 else None

    batch = await eventually(done, timeout=30)
    assert batch["total"] == 3
    assert batch["summary"] == {"result": 1, "refused": 1, "unknown_charge_point": 1}
    assert [(r["chargePointId"], r["status"]) for r in batch["refused"]] == [
        (core_only.cp_id, "refused")
    ]
    assert "RemoteTrigger" in batch["refused"][0]["reason"]
    assert {c["chargePointId"]: c["status"] for c in batch["items"]} == {
        able.cp_id: "result",
        never: "unknown_charge_point",
    }
    assert not any(action == "TriggerMessage" for action, _ in core_only.received_calls)

"""Each CP's configuration is read after its boot, and commands of a feature profile it does
not list are refused before they are sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.commands_fixtures import COMMANDS
from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
CONFIGURATION = {
    "configurationKey": [
        {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,Remote Trigger"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    ]
}


async def _answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    if action == "GetConfiguration":
        return CONFIGURATION
    answer: dict[str, Any] = COMMANDS[action][1]
    return answer


@pytest.fixture
def reading_at_boot(suite: Suite) -> Iterator[None]:
    suite.restart_service("command-api", API_READ_CONFIGURATION_AT_BOOT="true")
    try:
        yield
    finally:
        suite.restart_service("command-api", API_READ_CONFIGURATION_AT_BOOT="false")


async def test_the_snapshot_fills_after_a_boot_once_per_boot(
    reading_at_boot: None, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    cp.responder = _answer
    await cp.call("BootNotification", BOOT)

    async def snapshot() -> dict[str, Any] | None:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        keys = {entry["key"]: entry for entry in doc.get("configuration", [])}
        return keys if "SupportedFeatureProfiles" in keys else None

    keys = await eventually(snapshot, timeout=30)
    assert keys["HeartbeatInterval"]["value"] == "300"
    assert [name for name, _ in cp.received_calls] == ["GetConfiguration"]
    audit = (await api.get("/commands", params={"chargePointId": cp_id})).json()
    assert [c["requestedBy"] for c in audit["items"]] == ["system:boot-configuration"]

    # The next boot reads it again.
    await cp.call("BootNotification", BOOT)

    async def read_twice() -> bool:
        return [name for name, _ in cp.received_calls] == ["GetConfiguration"] * 2

    await eventually(read_twice, timeout=30)


async def test_a_command_of_a_profile_the_cp_does_not_list_is_409_and_not_sent(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    cp.responder = _answer
    await cp.call("BootNotification", BOOT)
    # Not yet known: sent.
    body, _ = COMMANDS["SetChargingProfile"]
    sent = await api.post(f"/charge-points/{cp_id}/commands/SetChargingProfile", json=body)
    assert sent.status_code == 200, sent.text
    read = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
    assert read.status_code == 200

    async def known() -> bool:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        return any(e["key"] == "SupportedFeatureProfiles" for e in doc.get("configuration", []))

    await eventually(known)
    calls = len(cp.received_calls)
    refused = await api.post(f"/charge-points/{cp_id}/commands/SetChargingProfile", json=body)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/feature-profile-not-supported")
    assert "SmartCharging" in problem["detail"]
    assert problem["supportedFeatureProfiles"] == ["Core", "Remote Trigger"]
    assert len(cp.received_calls) == calls
    # Listed (spelt with a space by this firmware) and Core: sent.
    trigger = COMMANDS["TriggerMessage"][0]
    ok = await api.post(f"/charge-points/{cp_id}/commands/TriggerMessage", json=trigger)
    assert ok.status_code == 200, ok.text
    assert (await api.post(f"/charge-points/{cp_id}/commands/ClearCache", json={})).is_success

"""Registration policies for unknown charge points: accept, pending (admin approval), reject."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.support import CallErrorReply, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
REGISTRY = "station-registry"


@pytest.fixture
def policy(suite: Any) -> Iterator[Any]:
    """Run the registry with another policy for one test, then with `accept` again."""

    def use(value: str) -> None:
        suite.restart_service(REGISTRY, REGISTRY_UNKNOWN_CHARGE_POINTS=value)

    yield use
    use("accept")


async def test_pending_until_an_admin_approves_then_triggered_to_boot(
    policy: Any, connect_cp: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    policy("pending")
    cp = await connect_cp(cp_id, 1)
    boot = await cp.call("BootNotification", BOOT)
    assert boot["status"] == "Pending"
    assert boot["interval"] == 60
    # Pending: nothing but BootNotification is taken.
    with pytest.raises(CallErrorReply) as exc:
        await cp.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        )
    assert exc.value.code == "SecurityError"
    assert (await cp.call("BootNotification", BOOT))["status"] == "Pending"

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = answer
    approved = await api.post(f"/charge-points/{cp_id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["registrationStatus"] == "Accepted"

    async def triggered() -> bool:
        return ("TriggerMessage", {"requestedMessage": "BootNotification"}) in cp.received_calls

    await eventually(triggered)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    assert (await cp.call("Heartbeat", {}))["currentTime"]


async def test_reject_refuses_unknown_cps_but_not_registered_ones(
    policy: Any, connect_cp: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    policy("reject")
    stranger = await connect_cp(cp_id, 0)
    boot = await stranger.call("BootNotification", BOOT)
    assert boot["status"] == "Rejected"
    with pytest.raises(CallErrorReply) as exc:
        await stranger.call("Heartbeat", {})
    assert exc.value.code == "SecurityError"
    # An admin registers another CP: it is accepted under the same policy.
    known = f"{cp_id}-K"
    assert (
        await api.put(f"/charge-points/{known}", json={"securityProfile": 0})
    ).status_code == 200
    cp = await connect_cp(known, 1)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"


async def test_approving_an_unknown_cp_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.post("/charge-points/NOBODY-HERE/approve")).status_code == 404

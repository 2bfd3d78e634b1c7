"""Registration policies for unknown charge points: accept, pending (admin approval), reject."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.support import CallErrorReply, ChargePointClient, eventually

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


async def row_of(db: asyncpg.Connection, cp_id: str) -> Any:
    return await db.fetchrow(
        "SELECT registration_status, online, gateway FROM registry.charge_points WHERE id = $1",
        cp_id,
    )


async def test_pending_until_an_admin_approves_then_triggered_to_boot(
    policy: Any, connect_cp: Any, api: httpx.AsyncClient, cp_id: str, db: asyncpg.Connection
) -> None:
    policy("pending")
    cp = await connect_cp(cp_id, 1)
    # The handshake alone makes no row (a made-up id must not fill the table): a registered CP
    # connecting after it through the same gateway is shown online, and still no row.
    known = f"{cp_id}-K"
    assert (await api.put(f"/charge-points/{known}", json={})).status_code == 200
    await connect_cp(known, 1)

    async def known_online() -> bool:
        row = await row_of(db, known)
        return bool(row and row["online"])

    await eventually(known_online)
    assert await row_of(db, cp_id) is None
    # ...its BootNotification does, online at the gateway it came through.
    boot = await cp.call("BootNotification", BOOT)
    assert boot["status"] == "Pending"
    assert boot["interval"] == 60
    row = await row_of(db, cp_id)
    assert row["registration_status"] == "Pending" and row["online"] is True
    assert row["gateway"]
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
    policy: Any,
    suite: Any,
    connect_cp: Any,
    api: httpx.AsyncClient,
    cp_id: str,
    db: asyncpg.Connection,
) -> None:
    policy("reject")
    # An id nobody registered is refused at the handshake, as SteVe does, and leaves no row.
    with pytest.raises(InvalidStatus) as refused:
        await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    assert refused.value.response.status_code == 404
    assert await row_of(db, cp_id) is None
    events = await db.fetchval(
        "SELECT count(*) FROM registry.security_events WHERE charge_point_id = $1", cp_id
    )
    assert events == 0
    # An admin registers another CP: it is accepted under the same policy.
    known = f"{cp_id}-K"
    assert (
        await api.put(f"/charge-points/{known}", json={"securityProfile": 0})
    ).status_code == 200
    cp = await connect_cp(known, 1)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"


async def test_pending_cp_disconnecting_before_any_reconnect_is_shown_offline(
    policy: Any, suite: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    policy("pending")
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Pending"
    await cp.close()

    async def offline() -> bool:
        row = await row_of(db, cp_id)
        return row is not None and row["online"] is False

    await eventually(offline)


async def test_approving_an_unknown_cp_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.post("/charge-points/NOBODY-HERE/approve")).status_code == 404

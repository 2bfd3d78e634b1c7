"""Refused handshakes do not fill storage (security, third pass: item 11): made-up ids leave
only a metric and a bounded log, a known CP's refusals are written once per address a minute
with a count, the per-address limit comes first, the client's subprotocol text is never echoed,
and security events keep their own retention."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import InvalidStatus

from station_registry.db import security_events
from station_registry.retention import prune
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, ServiceProcess, eventually, metric

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
KEY = "0123456789abcdef0123"


async def refused_with(url: str, cp_id: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await ChargePointClient.connect(url, cp_id, **kw)
    return int(refused.value.response.status_code)


async def refusal_records(api: httpx.AsyncClient, cp_id: str) -> list[dict[str, Any]]:
    """The `refused` records of a CP's message log."""
    page = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 100})
    if page.status_code == 404:
        return []
    assert page.status_code == 200, page.text
    return [m for m in page.json()["items"] if m.get("kind") == "refused"]


@pytest.fixture
async def short_windows(suite: Suite) -> AsyncIterator[tuple[ServiceProcess, int]]:
    """A gateway whose refusal records cover 2 s instead of a minute, with a small budget of
    handshakes per address (3, refilling at one every 10 s)."""
    process, port = suite.extra_gateway(
        f"gw-refusals-{uuid.uuid4().hex[:4]}",
        GATEWAY_REFUSAL_RECORD_SECONDS="2",
        GATEWAY_HANDSHAKES_PER_ADDRESS_PER_SECOND="0.1",
        GATEWAY_HANDSHAKE_BURST_PER_ADDRESS="3",
    )
    yield process, port
    process.stop()


async def test_a_known_cps_refusals_are_one_record_per_window_with_a_count(
    suite: Suite, api: httpx.AsyncClient, cp_id: str, short_windows: tuple[ServiceProcess, int]
) -> None:
    _, port = short_windows
    url = f"ws://127.0.0.1:{port}"
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    assert (await cp.call("BootNotification", BOOT))["status"] == "Accepted"
    await cp.close()
    stranger = f"FAKE-{uuid.uuid4().hex[:10]}"
    # Three from one address (its budget): a made-up id, then the known CP twice, each offering
    # only a subprotocol the gateway does not speak.
    for target in (stranger, cp_id, cp_id):
        assert await refused_with(url, target, subprotocols=["ocpp0.9"]) == 400

    async def summed_up() -> list[dict[str, Any]] | None:
        found = await refusal_records(api, cp_id)
        return found if len(found) == 2 else None

    # The first at once (count 1), the second in the window's summary (count 1).
    first, summary = sorted(await eventually(summed_up), key=lambda r: r["at"])
    assert first["payload"]["count"] == 1 and summary["payload"]["count"] == 1
    assert first["payload"]["status"] == 400 and first["payload"]["address"] == "127.0.0.1"
    # The made-up id's refusal came first and would be stored by now: it has nothing.
    assert await refusal_records(api, stranger) == []
    # Past its budget the address gets 429 before anything else is looked at, a plain HTTP
    # request at an /ocpp/ path (426 within the budget) included.
    async with httpx.AsyncClient(timeout=10) as http:
        plain = await http.get(f"http://127.0.0.1:{port}/ocpp/{cp_id}")
    assert plain.status_code == 429 and "Retry-After" in plain.headers
    assert await refused_with(url, cp_id) == 429
    assert await metric(port_of(suite, short_windows), "csms_gateway_handshake_refusals_total",
                        status="400", charge_point="unknown") >= 1  # fmt: skip


def port_of(suite: Suite, gateway: tuple[ServiceProcess, int]) -> int:
    """The internal port (/metrics) of an extra gateway."""
    return int(gateway[0].env["GATEWAY_INTERNAL_PORT"])


async def test_the_offered_subprotocol_is_never_echoed(suite: Suite, cp_id: str) -> None:
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Protocol": "ocpp0.9, <img src=x onerror=alert(1)>",
    }
    gateway = suite.gateway_url(1).replace("ws://", "http://")
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.get(f"{gateway}/ocpp/{cp_id}", headers=upgrade)
    assert refused.status_code == 400
    assert "ocpp1.6" in refused.text
    assert "onerror" not in refused.text and "ocpp0.9" not in refused.text


async def test_a_repeated_wrong_key_is_one_security_event_with_a_count(
    suite: Suite, api: httpx.AsyncClient, db: asyncpg.Connection, cp_id: str
) -> None:
    registered = await api.put(
        f"/charge-points/{cp_id}", json={"securityProfile": 1, "authorizationKey": KEY}
    )
    assert registered.status_code == 200, registered.text
    for n in range(3):
        assert (
            await refused_with(suite.gateway_url(0), cp_id, password=f"wrong-key-{n:014d}") == 401
        )

    async def counted() -> list[asyncpg.Record] | None:
        rows = await db.fetch(
            "SELECT type, address, count FROM registry.security_events "
            "WHERE charge_point_id = $1 AND type = 'InvalidCredentials'",
            cp_id,
        )
        return rows if sum(r["count"] for r in rows) == 3 else None

    rows = await eventually(counted)
    # One row a minute (two if the three straddled a minute's turn), the address on it.
    assert len(rows) <= 2 and {r["address"] for r in rows} == {"127.0.0.1"}
    events = (await api.get(f"/charge-points/{cp_id}/security-events")).json()["items"]
    assert sum(e["count"] for e in events) == 3 and all(e["address"] == "127.0.0.1" for e in events)


async def test_security_events_received_before_their_retention_leave(
    suite: Suite, db: asyncpg.Connection
) -> None:
    from csms_shared.db import create_engine, session_factory

    cp = f"SEC-{uuid.uuid4().hex[:8]}"
    for days in (40, 1):
        await db.execute(
            "INSERT INTO registry.security_events (charge_point_id, type, source, timestamp, "
            "received_at) VALUES ($1, 'InvalidCredentials', 'csms', now(), "
            "now() - make_interval(days => $2))",
            cp,
            days,
        )
    engine = create_engine(suite.infra.database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            assert await prune(session, security_events, 30) >= 1
    finally:
        await engine.dispose()
    left = await db.fetch(
        "SELECT count FROM registry.security_events WHERE charge_point_id = $1", cp
    )
    assert len(left) == 1

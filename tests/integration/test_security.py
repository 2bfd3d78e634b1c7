"""Security profiles 1-3 at the handshake, and the abuse limits of a gateway."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from tests.integration.certs import Authority
from tests.integration.support import CallErrorReply, ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
BOOT_V201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ACME", "model": "X1"}}
KEY = "0123456789abcdef0123"
# The security profiles are the same for both versions: each profile test runs with each.
VERSIONS = pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])


def boot_of(subprotocol: str) -> dict[str, Any]:
    return BOOT_V201 if subprotocol == "ocpp2.0.1" else BOOT


async def refused_with(status: int, coro: Any) -> None:
    with pytest.raises(InvalidStatus) as exc:
        await coro
    assert exc.value.response.status_code == status


async def security_event_types(db: asyncpg.Connection, cp_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT type FROM registry.security_events WHERE charge_point_id = $1 ORDER BY id", cp_id
    )
    return [r["type"] for r in rows]


@VERSIONS
async def test_profile_1_right_wrong_and_missing_password(
    api: httpx.AsyncClient, suite: Any, cp_id: str, db: asyncpg.Connection, subprotocol: str
) -> None:
    put = await api.put(
        f"/charge-points/{cp_id}", json={"securityProfile": 1, "authorizationKey": KEY}
    )
    assert put.status_code == 200, put.text
    assert KEY not in put.text
    assert put.json()["authorizationKeySet"] is True
    url = suite.gateway_url(1)
    offers = [subprotocol]
    await refused_with(401, ChargePointClient.connect(url, cp_id, offers))
    await refused_with(
        401, ChargePointClient.connect(url, cp_id, offers, password="wrong-password-123")
    )
    cp = await ChargePointClient.connect(url, cp_id, offers, password=KEY)
    assert cp.ws.subprotocol == subprotocol
    assert (await cp.call("BootNotification", boot_of(subprotocol)))["status"] == "Accepted"
    await cp.close()
    assert await security_event_types(db, cp_id) == ["MissingCredentials", "InvalidCredentials"]
    events = (await api.get(f"/charge-points/{cp_id}/security-events")).json()
    assert [e["type"] for e in events["items"]] == ["InvalidCredentials", "MissingCredentials"]
    # Nothing about the password reaches a log, right or wrong.
    for process in [*suite.gateways, *suite.services.values()]:
        log_text = process.log_path.read_text(errors="replace")
        assert KEY not in log_text and "wrong-password-123" not in log_text, process.name
    # The key is stored hashed, never as given.
    stored = await db.fetchval(
        "SELECT auth_key_hash FROM registry.charge_points WHERE id = $1", cp_id
    )
    assert stored.startswith("$argon2id$") and KEY not in stored


async def test_rotating_the_key_takes_effect_at_once(
    api: httpx.AsyncClient, suite: Any, cp_id: str
) -> None:
    await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 1, "authorizationKey": KEY})
    url = suite.gateway_url(0)
    cp = await ChargePointClient.connect(url, cp_id, password=KEY)  # now cached by the gateway
    await cp.close()
    new_key = "fedcba9876543210fedc"
    assert (
        await api.put(f"/charge-points/{cp_id}", json={"authorizationKey": new_key})
    ).status_code == 200

    async def old_key_refused() -> bool:
        try:
            client = await ChargePointClient.connect(url, cp_id, password=KEY)
        except InvalidStatus as exc:
            return exc.response.status_code == 401
        await client.close()
        return False

    await eventually(old_key_refused, timeout=10)
    cp = await ChargePointClient.connect(url, cp_id, password=new_key)
    await cp.close()


async def test_username_must_be_the_cp_id(api: httpx.AsyncClient, suite: Any, cp_id: str) -> None:
    await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 1, "authorizationKey": KEY})
    import base64

    from websockets.asyncio.client import connect

    token = base64.b64encode(f"someone-else:{KEY}".encode()).decode()
    with pytest.raises(InvalidStatus) as exc:
        await connect(
            f"{suite.gateway_url(0)}/ocpp/{cp_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        )
    assert exc.value.response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"securityProfile": 4},
        {"securityProfile": "1"},
        {"authorizationKey": "short"},
        {"authorizationKey": "x" * 41},
        {"securityProfile": 1, "unknown": True},
    ],
)
async def test_bad_settings_get_422(
    api: httpx.AsyncClient, cp_id: str, body: dict[str, Any]
) -> None:
    assert (await api.put(f"/charge-points/{cp_id}", json=body)).status_code == 422


async def test_profile_1_needs_a_key(api: httpx.AsyncClient, cp_id: str) -> None:
    response = await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 1})
    assert response.status_code == 422


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "csms-test-ca")
    other = Authority(directory, "other-ca")
    return {
        "dir": directory,
        "ca": ca,
        "other": other,
        "server": ca.issue("localhost", server=True),
    }


@pytest.fixture(scope="module")
async def tls_gateway(suite: Any, pki: dict[str, Any]) -> AsyncIterator[str]:
    process, port = suite.extra_gateway(
        "gateway-tls",
        GATEWAY_TLS_CERT_FILE=str(pki["server"].cert),
        GATEWAY_TLS_KEY_FILE=str(pki["server"].key),
        GATEWAY_TLS_CLIENT_CA_FILE=str(pki["ca"].files.cert),
    )
    yield f"wss://127.0.0.1:{port}"
    process.stop()


def client_tls(pki: dict[str, Any], cert: Any = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"].files.cert))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


@VERSIONS
async def test_profile_2_tls_with_basic_auth(
    api: httpx.AsyncClient,
    suite: Any,
    tls_gateway: str,
    pki: dict[str, Any],
    cp_id: str,
    subprotocol: str,
) -> None:
    await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 2, "authorizationKey": KEY})
    offers = [subprotocol]
    cp = await ChargePointClient.connect(
        tls_gateway, cp_id, offers, password=KEY, ssl_context=client_tls(pki)
    )
    assert cp.ws.subprotocol == subprotocol
    assert (await cp.call("BootNotification", boot_of(subprotocol)))["status"] == "Accepted"
    await cp.close()
    # Below its profile: plain ws:// is refused even with the right key.
    await refused_with(
        403, ChargePointClient.connect(suite.gateway_url(0), cp_id, offers, password=KEY)
    )
    await refused_with(
        401, ChargePointClient.connect(tls_gateway, cp_id, offers, ssl_context=client_tls(pki))
    )


@VERSIONS
async def test_profile_3_client_certificates(
    api: httpx.AsyncClient, tls_gateway: str, pki: dict[str, Any], cp_id: str, subprotocol: str
) -> None:
    await api.put(f"/charge-points/{cp_id}", json={"securityProfile": 3})
    good = pki["ca"].issue(cp_id)
    cp = await ChargePointClient.connect(
        tls_gateway, cp_id, [subprotocol], ssl_context=client_tls(pki, good)
    )
    assert cp.ws.subprotocol == subprotocol
    assert (await cp.call("BootNotification", boot_of(subprotocol)))["status"] == "Accepted"
    await cp.close()
    # A certificate of another CP: the CN does not match.
    someone_else = pki["ca"].issue("CP-SOMEONE-ELSE")
    await refused_with(
        403,
        ChargePointClient.connect(tls_gateway, cp_id, ssl_context=client_tls(pki, someone_else)),
    )
    # No certificate at all.
    await refused_with(
        401, ChargePointClient.connect(tls_gateway, cp_id, ssl_context=client_tls(pki))
    )
    # A certificate from another CA: the TLS handshake itself fails.
    foreign = pki["other"].issue(cp_id)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError, InvalidMessage)):
        client = await ChargePointClient.connect(
            tls_gateway, cp_id, ssl_context=client_tls(pki, foreign)
        )
        await client.call("Heartbeat", {})


@pytest.fixture(scope="module")
async def strict_gateway(suite: Any) -> AsyncIterator[str]:
    process, port = suite.extra_gateway(
        "gateway-strict",
        GATEWAY_RATE_LIMIT_PER_SECOND="5",
        GATEWAY_RATE_LIMIT_BURST="10",
        GATEWAY_RATE_LIMIT_STRIKES="40",
        GATEWAY_PING_INTERVAL="0.5",
        GATEWAY_PING_TIMEOUT="0.5",
    )
    yield f"ws://127.0.0.1:{port}"
    process.stop()


async def test_flooding_cp_is_throttled_then_disconnected_while_others_are_served(
    strict_gateway: str, cp_id: str
) -> None:
    flooder = await ChargePointClient.connect(strict_gateway, f"{cp_id}-F")
    calm = await ChargePointClient.connect(strict_gateway, f"{cp_id}-C")
    throttled = 0
    for _ in range(60):  # bounded: 60 frames as fast as the socket takes them
        try:
            await flooder.call("Heartbeat", {})
        except CallErrorReply as exc:
            assert exc.code == "GenericError"
            assert "retryAfterSeconds" in exc.details
            throttled += 1
        except (TimeoutError, ConnectionClosed):
            break  # disconnected for flooding: the answer never came
        if throttled and throttled % 10 == 0:
            assert (await calm.call("Heartbeat", {}))["currentTime"]
    assert throttled > 0
    await asyncio.wait_for(flooder.ws.wait_closed(), 10)
    assert flooder.ws.close_code == 1008
    assert (await calm.call("Heartbeat", {}))["currentTime"]
    await calm.close()


async def test_half_open_connection_is_reaped(strict_gateway: str, cp_id: str) -> None:
    port = int(strict_gateway.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /ocpp/{cp_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101")

    # Never answer the server's pings: it must give up and close within a few seconds.
    async def until_eof() -> None:
        while await reader.read(4096):
            pass

    await asyncio.wait_for(until_eof(), 15)
    writer.close()


async def test_reconnect_loop_of_one_cp_id_is_slowed_down(suite: Any, cp_id: str) -> None:
    process, port = suite.extra_gateway(
        "gateway-reconnects",
        GATEWAY_HANDSHAKES_PER_CHARGE_POINT_PER_SECOND="0.5",
        GATEWAY_HANDSHAKE_BURST_PER_CHARGE_POINT="3",
    )
    try:
        url = f"ws://127.0.0.1:{port}"
        for _ in range(3):
            cp = await ChargePointClient.connect(url, cp_id)
            await cp.close()
        await refused_with(429, ChargePointClient.connect(url, cp_id))
        # Another CP id on the same gateway is not affected.
        other = await ChargePointClient.connect(url, f"{cp_id}-other")
        await other.close()
    finally:
        process.stop()


async def test_handshake_limit_counts_the_address_a_trusted_proxy_names(suite: Any) -> None:
    from websockets.asyncio.client import connect

    process, port = suite.extra_gateway(
        "gateway-behind-proxy",
        GATEWAY_TRUSTED_PROXIES='["127.0.0.0/8"]',
        GATEWAY_HANDSHAKES_PER_ADDRESS_PER_SECOND="0.1",
        GATEWAY_HANDSHAKE_BURST_PER_ADDRESS="2",
    )

    async def through_proxy(client: str, cp: str) -> Any:
        return await connect(
            f"ws://127.0.0.1:{port}/ocpp/{cp}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"X-Forwarded-For": f"{client}, 127.0.0.1"},
        )

    try:
        for n in range(2):
            await (await through_proxy("10.0.0.1", f"PROXIED-A{n}")).close()
        await refused_with(429, through_proxy("10.0.0.1", "PROXIED-A3"))
        # Another CP behind the same proxy has its own budget.
        await (await through_proxy("10.0.0.2", "PROXIED-B0")).close()
    finally:
        process.stop()

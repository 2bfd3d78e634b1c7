"""Past its peak the gateway answers at once: 503/429 with Retry-After to a connect storm, and an
early refusal (`Overloaded`) of decision calls its service is too far behind on; test_session
checks what the CP gets then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from csms_shared.bus.bundle import encode_replies
from csms_shared.bus.topology import HEADER_BUNDLE
from csms_shared.contracts.envelopes import CallReply
from csms_shared.contracts.rpc import RpcMethod
from csms_shared.ocpp.version import OcppVersion
from ws_gateway.bus import GatewayBus
from ws_gateway.call_refusals import Overloaded
from ws_gateway.handshake import Handshakes
from ws_gateway.settings import Settings

V16 = OcppVersion.V16


class HeldRpc:
    """The registry's admission RPC: every request waits until the test releases it."""

    def __init__(self) -> None:
        self.asked = 0
        self.changed = asyncio.Event()
        self.release = asyncio.Event()

    async def call(self, method: RpcMethod[Any, Any], params: Any, timeout: float = 5.0) -> Any:
        self.asked += len(params.handshakes)
        self.changed.set()
        await self.release.wait()
        one = {"allowed": True, "securityProfile": 0, "registrationStatus": "Accepted"}
        return method.decode_result({"decisions": [one] * len(params.handshakes)})

    async def wait_asked(self, count: int) -> None:
        while self.asked < count:
            self.changed.clear()
            await self.changed.wait()


@asynccontextmanager
async def gateway(rpc: HeldRpc, **settings: Any) -> AsyncIterator[str]:
    """A WebSocket server deciding handshakes as the gateway does; its ws:// base URL."""
    handshakes = Handshakes(Settings(**settings), rpc, tls=False)  # type: ignore[arg-type]
    async with serving(handshakes) as url:
        yield url


@asynccontextmanager
async def serving(handshakes: Handshakes) -> AsyncIterator[str]:
    """A WebSocket server deciding handshakes with `handshakes`; its ws:// base URL."""

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=handshakes.process_request,
        subprotocols=[Subprotocol("ocpp1.6")],
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp"


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the event loop run until `condition` holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0)


async def open_ws(url: str) -> Any:
    return await connect(url, subprotocols=[Subprotocol("ocpp1.6")], open_timeout=5)


async def test_handshakes_past_the_pending_bound_get_503_with_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc = HeldRpc()
    async with gateway(rpc, max_pending_handshakes=2, max_queued_handshakes=0) as url:
        waiting = [asyncio.create_task(open_ws(f"{url}/CP-{n}")) for n in range(2)]
        await rpc.wait_asked(2)
        with caplog.at_level(logging.INFO, "ws_gateway.refusals"):
            with pytest.raises(InvalidStatus) as refused:
                await open_ws(f"{url}/CP-2")
        response = refused.value.response
        assert response.status_code == 503
        # Spread over the time 2 held and 1 refused take at the least rate (2 slots freed
        # within the 8 s admission timeout): 12 s.
        assert 1 <= int(response.headers["Retry-After"]) <= 13
        assert b"Too many charge points are connecting at once" in response.body
        assert any(
            "'CP-2'" in r.getMessage() and "503" in r.getMessage() and r.levelname == "WARNING"
            for r in caplog.records
        )
        rpc.release.set()
        for ws in await asyncio.gather(*waiting):
            assert ws.subprotocol == "ocpp1.6"
            await ws.close()
        # With the admissions through, the bound is free again.
        ws = await open_ws(f"{url}/CP-2")
        await ws.close()


async def test_a_burst_past_the_pending_bound_waits_its_turn_and_is_let_in() -> None:
    rpc = HeldRpc()
    settings = Settings(
        max_pending_handshakes=2,
        max_queued_handshakes=3,
        handshake_queue_seconds=10,
        admission_timeout=1,
    )
    handshakes = Handshakes(settings, rpc, tls=False)  # type: ignore[arg-type]
    async with serving(handshakes) as url:
        burst = [asyncio.create_task(open_ws(f"{url}/CP-{n}")) for n in range(5)]
        await rpc.wait_asked(2)
        await until(lambda: handshakes.slots.waiting == 3)
        # Past the queue's bound: refused at once.
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(f"{url}/CP-5")
        assert refused.value.response.status_code == 503
        assert "Retry-After" in refused.value.response.headers
        rpc.release.set()
        for ws in await asyncio.gather(*burst):
            assert ws.subprotocol == "ocpp1.6"
            await ws.close()
    assert rpc.asked == 5
    assert handshakes.slots.busy == 0 and handshakes.slots.waiting == 0


async def test_a_handshake_that_gives_up_while_it_waits_is_not_asked_about() -> None:
    rpc = HeldRpc()
    settings = Settings(max_pending_handshakes=1, handshake_queue_seconds=10)
    handshakes = Handshakes(settings, rpc, tls=False)  # type: ignore[arg-type]
    async with serving(handshakes) as url:
        first = asyncio.create_task(open_ws(f"{url}/CP-0"))
        await rpc.wait_asked(1)
        port = int(url.split(":")[2].split("/")[0])
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ocpp/CP-GONE HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        await until(lambda: handshakes.slots.waiting == 1)
        writer.close()
        await writer.wait_closed()
        # A plain request answered (404, no slot needed) after the close: the server has read
        # the waiting one's end of stream by then.
        probe_reader, probe = await asyncio.open_connection("127.0.0.1", port)
        probe.write(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await probe_reader.readline()).startswith(b"HTTP/1.1 404")
        probe.close()
        rpc.release.set()
        ws = await first
        await ws.close()
        await until(lambda: handshakes.slots.busy == 0)
    assert rpc.asked == 1, "the registry was asked only about the CP still there"


async def test_an_address_over_its_budget_gets_429_with_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc = HeldRpc()
    rpc.release.set()
    async with gateway(
        rpc, handshakes_per_address_per_second=0.5, handshake_burst_per_address=1
    ) as url:
        ws = await open_ws(f"{url}/CP-A")
        with caplog.at_level(logging.INFO, "ws_gateway.refusals"):
            with pytest.raises(InvalidStatus) as refused:
                await open_ws(f"{url}/CP-B")
        await ws.close()
    response = refused.value.response
    assert response.status_code == 429
    # Spread over the time the address's bucket takes to refill (burst / rate = 2 s).
    assert 1 <= int(response.headers["Retry-After"]) <= 3
    assert any("'CP-B'" in r.getMessage() and "429" in r.getMessage() for r in caplog.records)


OK = CallReply(payload={})


class HeldClient:
    """Stands in for the BusClient: each request waits until the test releases it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[str] = []
        self.another = asyncio.Event()

    async def request(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any,
        timeout: float,
        **_: Any,
    ) -> bytes:
        self.sent.append(routing_key)
        self.another.set()
        await self.release.wait()
        count = int((properties.headers or {}).get(HEADER_BUNDLE, 0))
        return encode_replies([OK] * count) if count else OK.encode()


async def test_decision_calls_of_an_action_too_far_behind_are_refused_before_they_leave() -> None:
    # A bound below any wait: an Authorize still unanswered has been waiting longer.
    bus = GatewayBus("amqp://unused/", "gw-1", 10, refuse_calls_behind=1e-9)
    client = HeldClient()
    bus.client = client  # type: ignore[assignment]
    now = datetime.now(UTC)
    first = asyncio.create_task(bus.request("CP-1", "m1", "Authorize", {}, now, 5.0, V16))
    await client.another.wait()  # in flight, unanswered
    with pytest.raises(Overloaded) as refused:
        await bus.request("CP-2", "m2", "Authorize", {}, now, 5.0, V16)
    assert refused.value.action == "Authorize" and refused.value.retry_after == 1
    assert client.sent == ["v16.Authorize"], "the refused call never left"
    # Another action's service is not behind: its calls go.
    other = asyncio.create_task(bus.request("CP-3", "m3", "StartTransaction", {}, now, 5.0, V16))
    client.another.clear()
    await client.another.wait()
    assert client.sent == ["v16.Authorize", "v16.StartTransaction"]
    client.release.set()
    assert await first == OK and await other == OK
    # Answered: the action is no longer behind.
    assert await bus.request("CP-2", "m4", "Authorize", {}, now, 5.0, V16) == OK

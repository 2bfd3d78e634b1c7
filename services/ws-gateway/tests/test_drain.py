"""A CP leaving a running gateway is unbound from its commands; one leaving a draining gateway
is not (the gateway's queue, and every binding on it, goes with its connection)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms_shared.contracts.envelopes import Presence
from csms_shared.contracts.event_base import Event
from csms_shared.contracts.rpc import RpcMethod
from ws_gateway.server import Gateway
from ws_gateway.settings import Settings


class FakeRpc:
    async def call(self, method: RpcMethod[Any, Any], params: Any, timeout: float = 5.0) -> Any:
        return method.decode_result({"decisions": [{"allowed": True} for _ in params.handshakes]})


class FakeBus:
    """What Gateway touches of the bus while CPs come and go."""

    instance_id = "gw-test"

    def __init__(self) -> None:
        self.rpc = FakeRpc()
        self.unbound: list[str] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.published = asyncio.Event()

    async def bind_charge_point(self, cp_id: str) -> None:
        pass

    async def unbind_charge_point(self, cp_id: str) -> None:
        self.unbound.append(cp_id)

    async def publish_control(self, presence: Presence) -> None:
        pass

    async def publish_event(self, event: Event) -> None:
        self.events.append((event.key(), orjson.loads(event.encode())))
        self.published.set()

    async def published_for(self, key: str, cp_id: str) -> None:
        while not any(k == key and b.get("chargePointId") == cp_id for k, b in self.events):
            self.published.clear()
            await asyncio.wait_for(self.published.wait(), 5)

    def presence(self, key: str) -> list[str]:
        return [body["chargePointId"] for k, body in self.events if k == key]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_only_a_running_gateway_unbinds_a_cp_that_leaves() -> None:
    port = free_port()
    bus = FakeBus()
    gateway = Gateway(Settings(port=port, http_host="127.0.0.1"), bus)  # type: ignore[arg-type]
    await gateway.start()
    url = f"ws://127.0.0.1:{port}/ocpp"
    ocpp = [Subprotocol("ocpp1.6")]
    async with connect(f"{url}/CP-2", subprotocols=ocpp) as staying:
        async with connect(f"{url}/CP-1", subprotocols=ocpp):
            await bus.published_for("station.connected", "CP-1")
        await bus.published_for("station.disconnected", "CP-1")
        await bus.published_for("station.connected", "CP-2")
        # The drain closes CP-2 and returns once the gateway has let it go.
        await gateway.drain()
        assert staying.close_code == 1001
    assert bus.unbound == ["CP-1"]
    # Both departures are announced all the same: presence does not depend on the binding.
    assert bus.presence("station.disconnected") == ["CP-1", "CP-2"]
    assert gateway.sessions == {}


async def test_an_idle_connection_keeps_no_handshake_headers_and_no_ping_task_of_its_own() -> None:
    port = free_port()
    bus = FakeBus()
    gateway = Gateway(Settings(port=port, http_host="127.0.0.1"), bus)  # type: ignore[arg-type]
    await gateway.start()
    try:
        url = f"ws://127.0.0.1:{port}/ocpp/CP-1"
        extra = {"Authorization": "Basic Q1AtMTpzZWNyZXQ=", "X-Trace": "x" * 2000}
        async with connect(url, subprotocols=[Subprotocol("ocpp1.6")], additional_headers=extra):
            await bus.published_for("station.connected", "CP-1")
            ws = gateway.sessions["CP-1"].ws
            assert ws.request is not None and ws.response is not None
            # Its path and subprotocol stay; the headers (its credentials too) went.
            assert ws.request.path == "/ocpp/CP-1" and ws.subprotocol == "ocpp1.6"
            assert list(ws.request.headers.raw_items()) == []
            assert list(ws.response.headers.raw_items()) == []
            # Pinged by the gateway's one keepalive task, not by one of its own.
            assert ws.keepalive_task is None and len(gateway.keepalive) == 1
        await bus.published_for("station.disconnected", "CP-1")
        assert len(gateway.keepalive) == 0
    finally:
        await gateway.drain()

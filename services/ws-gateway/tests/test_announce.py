"""A new connection is served at once while it is bound and announced beside it; its
station.connected still leaves before its station.disconnected."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
from websockets.asyncio.client import connect

from ws_gateway.server import Gateway
from ws_gateway.settings import Settings


class FakeRpc:
    async def call(self, service: str, method: str, params: Any, timeout: float) -> Any:
        return {"decisions": [{"allowed": True} for _ in params["handshakes"]]}


class SlowBus:
    """A broker whose queue binds hang until the test lets them through."""

    instance_id = "gw-announce"

    def __init__(self) -> None:
        self.rpc = FakeRpc()
        self.binds = asyncio.Event()
        self.events: list[tuple[str, str]] = []

    async def bind_charge_point(self, cp_id: str) -> None:
        await self.binds.wait()
        self.events.append(("bound", cp_id))

    async def unbind_charge_point(self, cp_id: str) -> None:
        self.events.append(("unbound", cp_id))

    async def publish_control(self, body: dict[str, Any]) -> None:
        self.events.append(("control", body["chargePointId"]))

    async def publish_event(self, routing_key: str, body: dict[str, Any]) -> None:
        self.events.append((routing_key, body.get("chargePointId", "")))

    async def request(self, cp_id: str, message_id: str, action: str, *args: Any) -> Any:
        return {
            "payload": {
                "status": "Accepted",
                "currentTime": "2026-01-01T00:00:00Z",
                "interval": 300,
            }
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_cp_is_served_while_it_is_announced_and_leaves_after_it() -> None:
    port = free_port()
    bus = SlowBus()
    gateway = Gateway(Settings(port=port, http_host="127.0.0.1"), bus)  # type: ignore[arg-type]
    await gateway.start()
    try:
        async with connect(f"ws://127.0.0.1:{port}/ocpp/CP-A", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            boot = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
            await ws.send(orjson.dumps([2, "m1", "BootNotification", boot]).decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer[:2] == [3, "m1"] and answer[2]["status"] == "Accepted"
            assert bus.events == []  # its bind still hangs: nothing announced yet
        # The CP left before its bind went through: it is announced first, then let go.
        await asyncio.sleep(0.1)
        assert bus.events == []
        bus.binds.set()
        for _ in range(100):
            if ("station.disconnected", "CP-A") in bus.events:
                break
            await asyncio.sleep(0.02)
        assert bus.events == [
            ("bound", "CP-A"),
            ("control", "CP-A"),
            ("station.connected", "CP-A"),
            ("unbound", "CP-A"),
            ("station.disconnected", "CP-A"),
        ]
    finally:
        await gateway.drain()

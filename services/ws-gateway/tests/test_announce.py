"""A new connection is served at once while it is bound and announced beside it; its
station.connected still leaves before its station.disconnected. Takeover by control message."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import timedelta
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from csms_shared.contracts.envelopes import CallReply, Presence
from csms_shared.contracts.event_base import Event
from csms_shared.contracts.rpc import RpcMethod
from csms_shared.ocpp import utcnow
from ws_gateway.server import Gateway
from ws_gateway.settings import Settings


class FakeRpc:
    async def call(self, method: RpcMethod[Any, Any], params: Any, timeout: float = 5.0) -> Any:
        return method.decode_result({"decisions": [{"allowed": True} for _ in params.handshakes]})


class SlowBus:
    """A broker whose queue binds hang until the test lets them through."""

    instance_id = "gw-announce"
    on_command: Any = None  # the gateway's, set when it is made
    on_control: Any = None

    def __init__(self) -> None:
        self.rpc = FakeRpc()
        self.binds = asyncio.Event()
        self.events: list[tuple[str, str]] = []
        self.left = asyncio.Event()
        self.replies: list[tuple[str | None, dict[str, Any]]] = []
        self.replied = asyncio.Event()

    async def bind_charge_point(self, cp_id: str) -> None:
        await self.binds.wait()
        self.events.append(("bound", cp_id))

    async def unbind_charge_point(self, cp_id: str) -> None:
        self.events.append(("unbound", cp_id))

    async def publish_control(self, presence: Presence) -> None:
        self.events.append(("control", presence.charge_point_id))

    async def publish_event(self, event: Event) -> None:
        body = orjson.loads(event.encode())
        self.events.append((event.key(), body.get("chargePointId", "")))
        if event.key() == "station.disconnected":
            self.left.set()

    async def reply(self, reply_to: str, correlation_id: str | None, outcome: Any) -> None:
        self.replies.append((correlation_id, orjson.loads(outcome.encode())))
        self.replied.set()

    async def request(
        self, cp_id: str, message_id: str, action: str, *args: Any, **kwargs: Any
    ) -> CallReply:
        return CallReply(
            payload={
                "status": "Accepted",
                "currentTime": "2026-01-01T00:00:00Z",
                "interval": 300,
            }
        )


class Command:
    """A Reset for CP-A as `ocpp.commands` delivers it."""

    def __init__(self, command_id: str) -> None:
        self.body = orjson.dumps({"action": "Reset", "payload": {"type": "Soft"}, "timeout": 30})
        self.routing_key = "CP-A"
        self.reply_to = "api.replies"
        self.correlation_id = command_id
        self.headers: dict[str, Any] = {}


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
            # One command in flight, one queued: the queued one is answered `disconnected`
            # when the connection's session ends, just before the CP would be let go.
            assert bus.on_command is not None
            for command_id in ("cmd-1", "cmd-2"):
                await bus.on_command(Command(command_id))
        # The CP left before its bind went through: it is announced first, then let go.
        await asyncio.wait_for(bus.replied.wait(), 5)
        assert bus.replies == [("cmd-2", {"status": "disconnected"})]
        assert bus.events == []
        bus.binds.set()
        await asyncio.wait_for(bus.left.wait(), 5)
        assert bus.events == [
            ("bound", "CP-A"),
            ("control", "CP-A"),
            ("station.connected", "CP-A"),
            ("unbound", "CP-A"),
            ("station.disconnected", "CP-A"),
        ]
    finally:
        await gateway.drain()


class ControlMessage:
    """A message as `ocpp.control` delivers it."""

    def __init__(self, body: bytes) -> None:
        self.body = body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"takeover!", "Invalid JSON"),
        (b'{"chargePointId": "CP-A", "gateway": "gw-other"}', "connectionId: Field required"),
        (
            b'{"chargePointId": "CP-A", "gateway": "gw-other", "connectionId": "c",'
            b' "connectedAt": "yesterday"}',
            "connectedAt: Input should be a valid datetime",
        ),
    ],
)
async def test_a_malformed_control_message_is_logged_and_changes_nothing(
    body: bytes, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    bus = SlowBus()
    bus.binds.set()
    gateway = Gateway(Settings(port=port, http_host="127.0.0.1"), bus)  # type: ignore[arg-type]
    await gateway.start()
    try:
        async with connect(f"ws://127.0.0.1:{port}/ocpp/CP-A", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            assert bus.on_control is not None
            with caplog.at_level(logging.ERROR, "ws_gateway.server"):
                await bus.on_control(ControlMessage(body))
            assert f"ignoring a malformed control message: not a Presence: {problem}" in caplog.text
            # Still served: a Heartbeat is answered.
            await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer[:2] == [3, "h1"]
            # A well-formed takeover still takes it.
            # A second later: presence times travel to the millisecond, and a connection made
            # within the same millisecond as this one would not count as newer.
            newer = Presence(
                charge_point_id="CP-A",
                gateway="gw-other",
                connection_id="c2",
                connected_at=utcnow() + timedelta(seconds=1),
            )
            await bus.on_control(ControlMessage(newer.encode()))
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 4000
    finally:
        await gateway.drain()

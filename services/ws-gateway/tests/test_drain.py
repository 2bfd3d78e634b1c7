"""A CP leaving a running gateway is unbound from its commands; one leaving a draining gateway
is not (the gateway's queue, and every binding on it, goes with its connection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ws_gateway.server import Gateway
from ws_gateway.settings import Settings


class FakeBus:
    """What Gateway touches of the bus when a CP goes."""

    instance_id = "gw-test"
    rpc = object()

    def __init__(self) -> None:
        self.unbound: list[str] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def unbind_charge_point(self, cp_id: str) -> None:
        self.unbound.append(cp_id)

    async def publish_event(self, routing_key: str, body: dict[str, Any]) -> None:
        self.events.append((routing_key, body))


class FakeWs:
    close_code = 1001
    close_reason = "gateway shutting down"


class FakeSession:
    def __init__(self, cp_id: str) -> None:
        self.cp_id = cp_id
        self.ws = FakeWs()
        self.connection_id = "c-" + cp_id
        self.connected_at = datetime(2026, 1, 1, tzinfo=UTC)


async def test_only_a_running_gateway_unbinds_a_cp_that_leaves() -> None:
    bus = FakeBus()
    gateway = Gateway(Settings(), bus)  # type: ignore[arg-type]
    for cp_id in ("CP-1", "CP-2"):
        gateway.sessions[cp_id] = FakeSession(cp_id)  # type: ignore[assignment]
    await gateway._forget(gateway.sessions["CP-1"])
    gateway.draining = True
    await gateway._forget(gateway.sessions["CP-2"])
    assert bus.unbound == ["CP-1"]
    # Both departures are announced all the same: presence does not depend on the binding.
    assert [(key, body["chargePointId"]) for key, body in bus.events] == [
        ("station.disconnected", "CP-1"),
        ("station.disconnected", "CP-2"),
    ]
    assert gateway.sessions == {}

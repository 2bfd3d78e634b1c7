"""The faults `make chaos` injects, each into a busy suite, each undone the way ops would."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.integration.conftest import Suite

from .servers import PrivatePostgres, PrivateRabbit

READY_TIMEOUT = 180.0  # a loaded 2-core machine starts a Python service slowly


def start_suite(suite: Suite) -> None:
    """`Suite.start` with a longer wait for readiness."""
    for name, process in suite.services.items():
        process.start()
        process.wait_ready(f"http://127.0.0.1:{suite.internal_ports[name]}/readyz", READY_TIMEOUT)
    for gateway, port in zip(suite.gateways, suite.gateway_internal_ports, strict=True):
        gateway.start()
        gateway.wait_ready(f"http://127.0.0.1:{port}/readyz", READY_TIMEOUT)


def restart_gateway(suite: Suite, index: int) -> None:
    """Start a gateway again with a new instance id, as a new pod would be."""
    gateway = suite.gateways[index]
    port = suite.gateway_ports[index]
    gateway.env = gateway.env | {"GATEWAY_INSTANCE_ID": f"chaos-{port}-{uuid.uuid4().hex[:6]}"}
    gateway.start()
    gateway.wait_ready(
        f"http://127.0.0.1:{suite.gateway_internal_ports[index]}/readyz", READY_TIMEOUT
    )


def restart_service(suite: Suite, name: str) -> None:
    """Start a killed service again."""
    suite.services[name].start()
    suite.services[name].wait_ready(
        f"http://127.0.0.1:{suite.internal_ports[name]}/readyz", READY_TIMEOUT
    )


@dataclass(slots=True)
class Stage:
    """What a fault acts on: the suite's processes and its own broker and database."""

    suite: Suite
    rabbit: PrivateRabbit
    postgres: PrivatePostgres
    stall_seconds: float
    outage_seconds: float


@dataclass(frozen=True, slots=True)
class Fault:
    """A named fault: `inject` breaks something and puts it back (restart, SIGCONT)."""

    name: str
    what: str
    inject: Callable[[Stage], Awaitable[None]]


async def _kill_gateway(stage: Stage) -> None:
    # SIGKILL: no close frames, no goodbye; its CPs reconnect to the other gateway. The pod
    # comes back (new instance id, as a new pod would).
    stage.suite.gateways[0].kill()
    await asyncio.to_thread(restart_gateway, stage.suite, 0)


async def _restart_broker(stage: Stage) -> None:
    await asyncio.to_thread(stage.rabbit.stop)
    await asyncio.sleep(stage.outage_seconds)  # the outage itself: the broker is away this long
    await asyncio.to_thread(stage.rabbit.start)


async def _restart_postgres(stage: Stage) -> None:
    await asyncio.to_thread(stage.postgres.restart_fast)


def _kill_service(name: str) -> Callable[[Stage], Awaitable[None]]:
    async def inject(stage: Stage) -> None:
        stage.suite.services[name].kill()
        await asyncio.to_thread(restart_service, stage.suite, name)

    return inject


def _stall_service(name: str) -> Callable[[Stage], Awaitable[None]]:
    async def inject(stage: Stage) -> None:
        process = stage.suite.services[name].proc
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(stage.stall_seconds)  # the stall itself
        finally:
            os.kill(process.pid, signal.SIGCONT)

    return inject


FAULTS = {
    fault.name: fault
    for fault in (
        Fault("gateway-kill", "SIGKILL of a gateway holding half the fleet", _kill_gateway),
        Fault("broker-restart", "RabbitMQ stopped, then started", _restart_broker),
        Fault("postgres-restart", "Postgres restarted (fast shutdown)", _restart_postgres),
        Fault(
            "kill-station-registry",
            "SIGKILL of station-registry",
            _kill_service("station-registry"),
        ),
        Fault(
            "kill-session-service", "SIGKILL of session-service", _kill_service("session-service")
        ),
        Fault("kill-command-api", "SIGKILL of command-api", _kill_service("command-api")),
        Fault(
            "stall-session-service",
            "SIGSTOP of session-service, then SIGCONT",
            _stall_service("session-service"),
        ),
    )
}

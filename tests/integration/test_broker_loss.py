"""A gateway that loses its broker connection answers at once: the calls that come until it is
back, or were waiting to leave, fail with BrokerAway (InternalError to the CP, which retries)
instead of hanging until the reconnect; a decision call already sent keeps waiting for its
answer or its timeout; calls go out again once the connection is back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest

from csms_shared.bus.topology import CALLS, DECISIONS
from csms_shared.ocpp.version import OcppVersion
from tests.integration.infra import Infra
from tests.integration.support import eventually
from ws_gateway.bus import GatewayBus
from ws_gateway.call_refusals import BrokerAway

pytestmark = pytest.mark.integration

# An action no service owns: a queue of the test's takes it and never answers.
PROBE = "BrokerLossProbe"


def _close_connection(name: str) -> bool:
    """Close the broker's side of the connection the client named `name` (as a node restart
    or a network cut would); whether one was found."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = False
    for line in listed.splitlines():
        if f'{{"connection_name","{name}"}}' in line:
            pid = line.split("\t", 1)[0]
            subprocess.run(
                ["rabbitmqctl", "close_connection", pid, "test: broker lost"],
                capture_output=True,
                check=True,
            )
            found = True
    return found


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_calls_while_the_broker_is_away_are_answered_at_once(infra: Infra) -> None:
    instance = f"loss-{uuid.uuid4().hex[:8]}"
    bus = GatewayBus(infra.broker_url, instance, prefetch=10)
    await bus.start()
    connection = await aio_pika.connect(infra.broker_url)
    waiting: asyncio.Task[object] | None = None
    try:
        channel = await connection.channel()
        # Queues of the test's take the calls (mandatory publishes must be routable).
        silent = await channel.declare_queue(f"test.{instance}", exclusive=True)
        await silent.bind(DECISIONS.name, f"v16.{PROBE}")
        notes = await channel.declare_queue(f"test.{instance}.notes", exclusive=True)
        await notes.bind(CALLS.name, f"v16.{PROBE}")
        now = datetime.now(UTC)
        # A decision call sent and waiting for its answer when the connection goes keeps
        # waiting (its owner may still commit it; a re-send at once could race it).
        waiting = asyncio.create_task(
            bus.request("CP-LOSS", "m1", PROBE, {}, now, timeout=120, version=OcppVersion.V16)
        )

        async def queued() -> bool:
            declared = await channel.declare_queue(silent.name, passive=True)
            return bool(declared.declaration_result.message_count)

        await eventually(queued)
        assert await asyncio.to_thread(_close_connection, f"ws-gateway {instance}")

        async def refused() -> bool:
            # Until the robust connection is back (seconds), a call is answered at once.
            try:
                await asyncio.wait_for(
                    bus.notify("CP-LOSS", "m2", PROBE, {}, now, OcppVersion.V16), 5
                )
            except BrokerAway:
                return True
            return False

        await eventually(refused, interval=0.02)
        assert not waiting.done()

        async def published() -> bool:
            try:
                await bus.notify("CP-LOSS", "m3", PROBE, {}, now, OcppVersion.V16)
            except BrokerAway:
                return False
            return True

        await eventually(published, timeout=60)
    finally:
        if waiting is not None:
            waiting.cancel()
        await connection.close()
        await bus.close()

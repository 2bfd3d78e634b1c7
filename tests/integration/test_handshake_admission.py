"""A burst of handshakes past the gateway's admission bound waits its turn and is let in; past
the queue's bound a CP gets 503 with a Retry-After (issue 45's connect storm)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually, metric

pytestmark = pytest.mark.integration

SLOTS = 2  # GATEWAY_MAX_PENDING_HANDSHAKES of the test's gateway
# Handshakes that may wait for a slot (GATEWAY_MAX_QUEUED_HANDSHAKES).
QUEUED = 2


async def test_a_burst_past_the_admission_bound_waits_and_the_rest_get_retry_after(
    suite: Suite,
) -> None:
    gateway, port = suite.extra_gateway(
        "gw-admission",
        GATEWAY_MAX_PENDING_HANDSHAKES=str(SLOTS),
        GATEWAY_MAX_QUEUED_HANDSHAKES=str(QUEUED),
        GATEWAY_HANDSHAKE_QUEUE_SECONDS="10",
        GATEWAY_ADMISSION_TIMEOUT="8",
    )
    internal = int(gateway.env["GATEWAY_INTERNAL_PORT"])
    url = f"ws://127.0.0.1:{port}"
    suffix = uuid.uuid4().hex[:6].upper()
    registry = suite.services["station-registry"].proc
    assert registry is not None
    burst: list[asyncio.Task[ChargePointClient]] = []
    try:
        # The registry holds every admission: SLOTS handshakes ask it, the next ones queue.
        os.kill(registry.pid, signal.SIGSTOP)
        try:
            for n in range(SLOTS + QUEUED):
                burst.append(
                    asyncio.create_task(ChargePointClient.connect(url, f"ADQ-{n}-{suffix}"))
                )

            async def all_queued() -> bool:
                return await metric(internal, "csms_gateway_handshakes_waiting") == QUEUED

            await eventually(all_queued)
            # The queue is full: the next CP is refused at once, told when to come back.
            with pytest.raises(InvalidStatus) as refused:
                await ChargePointClient.connect(url, f"ADQ-late-{suffix}")
        finally:
            os.kill(registry.pid, signal.SIGCONT)
        response = refused.value.response
        assert response.status_code == 503
        assert b"Too many charge points are connecting at once" in response.body
        # Spread over the time the gateway needs for what it holds at its least admission rate
        # (SLOTS slots freed within the 8 s admission timeout), at least the 10 s default.
        held = SLOTS + QUEUED + 1
        assert 1 <= int(response.headers["Retry-After"]) <= 1 + max(10, held / (SLOTS / 8))
        # Everyone of the burst is let in on its first attempt, those that queued too.
        admitted = await asyncio.gather(*burst)
        assert [cp.ws.subprotocol for cp in admitted] == ["ocpp1.6"] * (SLOTS + QUEUED)
        assert await metric(internal, "csms_gateway_handshakes_queued_total") == QUEUED
        assert (
            await metric(internal, "csms_gateway_handshakes_total", outcome="admitted")
            == SLOTS + QUEUED
        )
        assert await metric(internal, "csms_gateway_handshakes_total", outcome="overloaded") == 1
        assert await metric(internal, "csms_gateway_handshakes_waiting") == 0
        for cp in admitted:
            await cp.close()
    finally:
        for task in burst:
            task.cancel()
        gateway.stop()

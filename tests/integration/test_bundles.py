"""A gateway's notifications of one turn of its event loop leave as one bundle, through the
real broker; a lone notification still leaves as a plain message."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import orjson
import pytest

from csms_shared.bus.bundle import BUNDLE_MAX, decode_bundle
from csms_shared.bus.topology import (
    CALLS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    call_routing_key,
)
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.infra import isolated_vhost
from ws_gateway.bus import GatewayBus

pytestmark = pytest.mark.integration
V16 = OcppVersion.V16


@pytest.fixture
async def bus_and_queue(broker_and_db_base: tuple[str, str]) -> Any:
    """A gateway's bus in a vhost of its own, and a queue that takes its MeterValues."""
    with isolated_vhost(broker_and_db_base[0]) as url:
        bus = GatewayBus(url, "gw-bundles", prefetch=10)
        await bus.start()
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(CALLS.name, call_routing_key("MeterValues", OcppVersion.V16))
        yield bus, queue
        await connection.close()
        await bus.close()


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[aio_pika.abc.AbstractIncomingMessage]:
    messages = []
    while (message := await queue.get(fail=False, timeout=5)) is not None:
        await message.ack()
        messages.append(message)
    return messages


def meter(n: int) -> dict[str, Any]:
    return {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "n": n}]}


async def test_notifications_of_one_loop_turn_leave_in_one_bundle(bus_and_queue: Any) -> None:
    bus, queue = bus_and_queue
    at = utcnow()
    await asyncio.gather(
        *(bus.notify(f"CP-{n}", f"m{n}", "MeterValues", meter(n), at, V16) for n in range(10))
    )
    [message] = await drain(queue)
    assert message.headers[HEADER_BUNDLE] == 10
    assert message.headers[HEADER_GATEWAY] == "gw-bundles"
    items = decode_bundle(message.body, "gw-bundles")
    assert [(i.headers[HEADER_CHARGE_POINT], i.headers[HEADER_MESSAGE_ID]) for i in items] == [
        (f"CP-{n}", f"m{n}") for n in range(10)
    ]
    assert [i.payload for i in items] == [meter(n) for n in range(10)]


async def test_a_lone_notification_is_a_plain_message(bus_and_queue: Any) -> None:
    bus, queue = bus_and_queue
    await bus.notify("CP-1", "m1", "MeterValues", meter(1), utcnow(), V16)
    [message] = await drain(queue)
    assert HEADER_BUNDLE not in (message.headers or {})
    assert message.headers[HEADER_CHARGE_POINT] == "CP-1"
    assert orjson.loads(message.body) == meter(1)


async def test_a_busy_turn_is_cut_into_bundles_of_at_most_the_maximum(bus_and_queue: Any) -> None:
    bus, queue = bus_and_queue
    count = BUNDLE_MAX * 2 + 5
    at = utcnow()
    await asyncio.gather(
        *(bus.notify(f"CP-{n}", f"m{n}", "MeterValues", meter(n), at, V16) for n in range(count))
    )
    messages = await drain(queue)
    sizes = [m.headers.get(HEADER_BUNDLE, 1) for m in messages]
    assert sorted(sizes) == [5, BUNDLE_MAX, BUNDLE_MAX]
    ids = [i.headers[HEADER_MESSAGE_ID] for m in messages for i in decode_bundle(m.body, "")]
    assert sorted(ids) == sorted(f"m{n}" for n in range(count))

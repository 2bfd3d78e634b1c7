"""AMQP through the coalescing writer, against the real broker: confirmed publishes sent in
one turn arrive whole and in order, acks included."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import aiormq.connection
import pytest

from csms_shared.bus import coalesce
from csms_shared.bus.connection import connect
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration


async def test_confirmed_publishes_of_one_turn_arrive_in_order(infra: Infra) -> None:
    connection = await connect(infra.broker_url, name="coalesce-test")
    try:
        writer = getattr(aiormq.connection.Connection, coalesce._WRITER_ATTR)
        assert getattr(writer, "coalescing", False)
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(f"coalesce-{uuid.uuid4().hex}", auto_delete=True)
        count = 500
        bodies = [f"{i}:".encode() + bytes(i % 200) for i in range(count)]
        # Every publish queued in the same turn: the writer sends them in few socket writes.
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue.name,
                )
                for body in bodies
            )
        )
        received: list[bytes] = []
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                received.append(message.body)
                if len(received) == count:
                    break
        assert received == bodies
        await asyncio.sleep(0.2)
        declared = await channel.declare_queue(queue.name, passive=True)
        assert declared.declaration_result.message_count == 0
    finally:
        await connection.close()

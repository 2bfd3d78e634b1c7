"""Bare aio-pika request/reply through the suite's RabbitMQ: the broker path's own limit.

Requests go persistent, mandatory and confirmed through a durable topic exchange to a quorum
queue, as the gateway publishes a decision call; the replier answers on the default exchange
(transient, confirmed) and then acks, as a service does, but without a database.
`.venv/bin/python -m bench.baselines.amqp BROKER_URL` runs the replier.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import aio_pika
import uvloop
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

EXCHANGE = "bench.calls"
QUEUE = "bench.replier"
KEY = "v16.Bench"


async def _declare(channel: AbstractChannel) -> AbstractExchange:
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, KEY)
    return exchange


async def serve(url: str, prefetch: int = 200) -> None:
    """Answer every request with its own body until killed."""
    connection = await aio_pika.connect_robust(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    await _declare(channel)
    queue = await channel.get_queue(QUEUE)

    async def on_request(message: AbstractIncomingMessage) -> None:
        if message.reply_to:
            await channel.default_exchange.publish(
                Message(
                    message.body,
                    content_type="application/json",
                    correlation_id=message.correlation_id,
                    delivery_mode=DeliveryMode.NOT_PERSISTENT,
                ),
                routing_key=message.reply_to,
            )
        await message.ack()

    await queue.consume(on_request)
    print("ready", flush=True)
    await asyncio.Future()


class Requester:
    """The gateway's half: publish confirmed and persistent, await the reply by correlation id."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._reply_to = ""

    async def start(self) -> None:
        """Connect, declare, consume the exclusive reply queue."""
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=200)
        self._exchange = await _declare(channel)
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        self._reply_to = replies.name
        await replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def request(self, body: bytes, timeout: float = 10.0) -> bytes:
        """One round trip."""
        assert self._exchange is not None
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            await self._exchange.publish(
                Message(
                    body,
                    content_type="application/json",
                    delivery_mode=DeliveryMode.PERSISTENT,
                    correlation_id=correlation_id,
                    reply_to=self._reply_to,
                    expiration=timeout,
                    headers={"x-charge-point-id": "BENCH", "x-ocpp-action": "Bench"},
                ),
                routing_key=KEY,
                mandatory=True,
            )
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(correlation_id, None)

    async def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            await self._connection.close()


if __name__ == "__main__":
    uvloop.run(serve(sys.argv[1]))

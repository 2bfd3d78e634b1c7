"""The one broker client of the edges (gateways, command-api, RPC callers): connect, declare the
topology, a reply queue, publish, and requests answered on that queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiormq
from aio_pika import DeliveryMode
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    HeadersType,
)

from .connection import connect
from .publish import publish
from .replies import ReplyWaiter
from .topology import declare_exchanges

log = logging.getLogger(__name__)

JSON = "application/json"
PERSISTENT = int(DeliveryMode.PERSISTENT)
TRANSIENT = int(DeliveryMode.NOT_PERSISTENT)

MessageHandler = Callable[[AbstractIncomingMessage], Awaitable[None]]


def message_properties(
    *,
    persistent: bool = False,
    headers: HeadersType | None = None,
    correlation_id: str | None = None,
    reply_to: str | None = None,
    timeout: float | None = None,
    message_type: str | None = None,
    message_id: str | None = None,
) -> aiormq.spec.Basic.Properties:
    """The properties of a JSON message: persistent or not, headers, correlation, and with a
    `timeout` an expiration, so a message nobody took in time is dropped, not handled late.

    `user_id` is left to `publish`, which sets the login of the connection it goes out on.
    """
    return aiormq.spec.Basic.Properties(
        content_type=JSON,
        delivery_mode=PERSISTENT if persistent else TRANSIENT,
        headers=headers,
        correlation_id=correlation_id,
        reply_to=reply_to,
        message_type=message_type,
        message_id=message_id,
        # Milliseconds, as aio-pika encodes `expiration`.
        expiration=None if timeout is None else str(max(1, int(timeout * 1000))),
    )


class BusClient:
    """One robust connection with a publisher-confirmed channel and the topology declared.

    Its reply queue is exclusive: named (`reply_queue`) or named by the broker. A delivery that
    came through the default exchange is a reply, handed to whoever awaits its correlation id
    (`request`); anything else bound to the queue goes to `on_delivery`.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        prefetch: int | None = None,
        reply_queue: str = "",
    ) -> None:
        self._url = url
        self._name = name
        self._prefetch = prefetch
        self._reply_queue_name = reply_queue
        self.waiter: ReplyWaiter[bytes] = ReplyWaiter()
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None
        self.exchanges: dict[str, AbstractExchange] = {}
        self.queue: AbstractQueue | None = None
        self.on_delivery: MessageHandler | None = None

    async def start(self) -> None:
        """Connect, declare the exchanges and the reply queue, and consume it."""
        self.connection = await connect(self._url, name=self._name)
        # on_return_raises: a mandatory publish nobody can route raises DeliveryError.
        self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        if self._prefetch is not None:
            await self.channel.set_qos(prefetch_count=self._prefetch)
        self.exchanges = await declare_exchanges(self.channel)
        self.queue = await self.channel.declare_queue(
            self._reply_queue_name or None, exclusive=True, auto_delete=True
        )
        await self.queue.consume(self._dispatch, no_ack=True)

    async def close(self) -> None:
        """Close the connection; the exclusive queue and its bindings go with it."""
        if self.connection is not None:
            await self.connection.close()

    @property
    def reply_to(self) -> str:
        """The name of the reply queue."""
        assert self.queue is not None, "start the client first"
        return self.queue.name

    async def _dispatch(self, message: AbstractIncomingMessage) -> None:
        try:
            if message.exchange:
                if self.on_delivery is not None:
                    await self.on_delivery(message)
            elif not self.waiter.resolve(message.correlation_id, message.body):
                log.debug("dropped a late reply %s", message.correlation_id)
        except Exception:
            log.exception("failed to handle a message from %s", message.exchange or "a reply")

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        *,
        mandatory: bool = True,
    ) -> None:
        """Publish and wait for the broker's confirm; an unroutable mandatory publish raises
        DeliveryError."""
        assert self.channel is not None, "start the client first"
        await publish(
            self.channel,
            body,
            exchange=exchange,
            routing_key=routing_key,
            properties=properties,
            mandatory=mandatory,
        )

    async def request(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: aiormq.spec.Basic.Properties,
        timeout: float,
        *,
        expires: bool = True,
        on_published: Callable[[], None] | None = None,
    ) -> bytes:
        """Publish a request and await its reply's body on the reply queue: TimeoutError after
        `timeout`, DeliveryError if nobody could take it. Sets the correlation id, `reply_to`
        and, if `expires`, the expiration on `properties` (a queue with a dead-letter exchange
        would dead-letter what expires: such requests carry a deadline header instead).
        `on_published` is called once the publish is through (confirmed, on a confirming
        channel), before the reply is awaited."""
        correlation_id = self.waiter.new_id()
        properties.correlation_id = correlation_id
        properties.reply_to = self.reply_to
        if expires:
            # Milliseconds: a request nobody took in time is dropped, not answered late.
            properties.expiration = str(max(1, int(timeout * 1000)))
        future = self.waiter.expect(correlation_id)
        try:
            await self.publish(exchange, routing_key, body, properties)
        except BaseException:
            self.waiter.forget(correlation_id)
            raise
        if on_published is not None:
            on_published()
        try:
            reply: bytes = await self.waiter.wait(correlation_id, future, timeout)
            return reply
        except asyncio.CancelledError:
            self.waiter.forget(correlation_id)
            raise

    async def reply(self, reply_to: str, correlation_id: str | None, body: bytes) -> None:
        """Answer a request (transient; the asker's wait is the confirmation it arrived)."""
        await self.publish("", reply_to, body, message_properties(correlation_id=correlation_id))

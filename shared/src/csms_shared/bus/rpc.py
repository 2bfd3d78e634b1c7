"""RPC over the default exchange: `<service>.rpc` queues, a private reply queue per client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq
import orjson
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import DeliveryError

from .publish import publish
from .replies import ReplyWaiter
from .topology import service_queue


class RpcError(Exception):
    """The remote handler failed; `code` says how (`not_found`, `invalid`, `internal`, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RpcUnavailable(RpcError):
    """No consumer queue for that service exists, or it did not answer in time."""


def rpc_queue(service: str) -> str:
    """The RPC queue name of a service."""
    return service_queue(service, "rpc")


class RpcClient:
    """Calls `<service>.rpc` methods; JSON in, JSON out, silence becomes a timeout."""

    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel
        self._waiter = ReplyWaiter()
        self._queue: AbstractQueue | None = None

    async def start(self) -> None:
        """Declare the private reply queue and start consuming it."""
        self._queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        self._waiter.resolve(message.correlation_id, orjson.loads(message.body))

    async def call(
        self, service: str, method: str, params: dict[str, Any] | None = None, timeout: float = 5.0
    ) -> Any:
        """The result of `method` on `service`; raises RpcError or RpcUnavailable."""
        assert self._queue is not None, "RpcClient.start() first"
        try:
            body = orjson.dumps(params or {})
        except TypeError as exc:  # e.g. an integer beyond 64 bits
            raise RpcError("invalid", f"params cannot be sent: {exc}") from None
        correlation_id = self._waiter.new_id()
        future = self._waiter.expect(correlation_id)
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            correlation_id=correlation_id,
            reply_to=self._queue.name,
            message_type=method,
            delivery_mode=int(DeliveryMode.NOT_PERSISTENT),
            # Milliseconds: a request nobody took in time is dropped, not answered late.
            expiration=str(max(1, int(timeout * 1000))),
        )
        try:
            await publish(
                self._channel,
                body,
                exchange="",
                routing_key=rpc_queue(service),
                properties=properties,
                mandatory=True,
            )
        except DeliveryError:
            self._waiter.forget(correlation_id)
            raise RpcUnavailable("unavailable", f"{service} has no RPC queue") from None
        try:
            reply = await self._waiter.wait(correlation_id, future, timeout)
        except TimeoutError:
            raise RpcUnavailable("timeout", f"{service}.{method} did not answer") from None
        except asyncio.CancelledError:
            self._waiter.forget(correlation_id)
            raise
        if "error" in reply:
            raise RpcError(
                reply["error"].get("code", "internal"), reply["error"].get("message", "")
            )
        return reply.get("result")

"""Decode: the CALLs one AMQP delivery carries (one call, or a bundle's items), and who sent it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from .access import allowed
from .bundle import BadBundle, BundleItem, decode_bundle
from .metrics import REFUSED
from .topology import HEADER_BUNDLE, HEADER_DEADLINE, HEADER_GATEWAY

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """What the pipeline reads and settles of an AMQP message (aio-pika's incoming message)."""

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, Any] | None: ...

    @property
    def exchange(self) -> str | None: ...

    @property
    def routing_key(self) -> str | None: ...

    @property
    def user_id(self) -> str | None: ...

    @property
    def reply_to(self) -> str | None: ...

    @property
    def correlation_id(self) -> str | None: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool = True) -> None: ...

    async def reject(self, *, requeue: bool = False) -> None: ...


class Unreadable(ValueError):
    """A delivery whose body is not JSON, or not the bundle its headers announce."""


def is_bundle(message: Delivery) -> bool:
    """Whether the message carries a bundle (`x-ocpp-bundle`), not a single call."""
    return HEADER_BUNDLE in (message.headers or {})


def decode_calls(message: Delivery) -> list[BundleItem]:
    """The calls of a delivery, each with the headers a single message would carry.

    Raises Unreadable for a body that is not JSON or a malformed bundle: nothing in it can be
    handed to a handler."""
    headers = message.headers or {}
    if is_bundle(message):
        try:
            items = decode_bundle(message.body, str(headers.get(HEADER_GATEWAY, "")))
        except BadBundle as exc:
            raise Unreadable(str(exc)) from None
        if HEADER_DEADLINE in headers:  # a bundle of decision calls: each has the deadline
            for item in items:
                item.headers[HEADER_DEADLINE] = headers[HEADER_DEADLINE]
        return items
    try:
        payload = orjson.loads(message.body)
    except orjson.JSONDecodeError as exc:
        raise Unreadable(f"the body is not JSON: {exc}") from None
    return [BundleItem(dict(headers), payload)]


def refused(
    message: Delivery,
    exchange: str,
    senders: frozenset[str] | None,
    users: Mapping[str, str],
    service: str,
) -> bool:
    """True (and logged, and counted) when a delivery to `service` did not come the way the
    topology sends it: through `exchange` (whose topic permissions bound who may publish which
    key) and, for calls, from one of the `senders` roles (their broker `users`). Anything else
    was pushed into the queue through the default exchange, or by a user that publishes no
    such thing."""
    if message.exchange == exchange and (
        senders is None or allowed(message.user_id, senders, users)
    ):
        return False
    log.warning(
        "refused a delivery to %s from broker user %r through %r (%s)",
        service,
        message.user_id,
        message.exchange or "the default exchange",
        message.routing_key,
    )
    REFUSED.inc()
    return True

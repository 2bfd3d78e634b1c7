"""Dead-lettered messages: listed, replayed or discarded through the broker itself.

Every durable service queue dead-letters to `<queue>.dead` (csms_shared.bus.topology). These
functions read those queues with basic.get and manual acks, never the management plugin:
listing takes messages and gives them back with basic.nack (requeue), which RabbitMQ 4.3 does
not count as a failed delivery; replaying publishes a copy through the exchange and routing key
the message was first sent with (from its `x-death` header), waits for the broker's confirm,
then acks the dead letter; discarding acks it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import ChannelNotFoundEntity
from pydantic import JsonValue

from csms_shared.bus.access import COMMAND_API, REGISTRY, SESSIONS
from csms_shared.bus.publish import publish
from csms_shared.bus.topology import service_queue

from .models import DeadLetterMessage, MessageProperties

# The service queues that dead-letter, each to `<queue>.dead`.
SERVICE_QUEUES = (
    *(
        service_queue(service, purpose)
        for service in (REGISTRY, SESSIONS)
        for purpose in ("calls", "decisions", "events")
    ),
    # command-api's own followers (command_api/follow_events.py).
    service_queue(COMMAND_API, "events"),
)
# Headers the broker rewrites on every death or delivery: not part of a message's identity.
# RabbitMQ 4.x counts returns in `x-acquired-count` (a listing's nack(requeue) is one).
_VOLATILE = frozenset(
    {
        "x-acquired-count",
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)

Action = Literal["replay", "discard"]


def dead_letter_queue(queue: str) -> str:
    """`session-service.calls.dead` for `session-service.calls`."""
    return f"{queue}.dead"


def _plain(value: object) -> JsonValue:
    """A header value as JSON can carry it (the broker's tables hold bytes and datetimes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)  # a Decimal: its digits


def message_id(body: bytes, headers: Mapping[str, Any]) -> str:
    """A stable id of a dead letter: its body and the headers its publisher set."""
    own = {k: _plain(v) for k, v in headers.items() if k not in _VOLATILE}
    digest = hashlib.sha256(orjson.dumps(own, option=orjson.OPT_SORT_KEYS) + b"\0" + body)
    return digest.hexdigest()[:24]


def dead_letter_of(message: AbstractIncomingMessage) -> DeadLetterMessage:
    """The resource of one dead-lettered message, as the broker holds it."""
    # Any: the broker's table values are checked where read (x-death's entries below).
    headers: Mapping[str, Any] = message.headers or {}
    deaths = headers.get("x-death") or []
    first: Mapping[str, Any] = deaths[0] if deaths and isinstance(deaths[0], Mapping) else {}
    keys = first.get("routing-keys") or [message.routing_key or ""]
    try:
        text: str | None = message.body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetterMessage(
        id=message_id(message.body, headers),
        reason=str(_plain(first.get("reason", headers.get("x-first-death-reason", "")))),
        exchange=str(_plain(first.get("exchange", ""))),
        routing_key=str(_plain(keys[0])),
        deaths=sum(int(d.get("count", 1)) for d in deaths if isinstance(d, Mapping)),
        headers={str(k): _plain(v) for k, v in headers.items()},
        body=text,
        body_base64=None if text is not None else base64.b64encode(message.body).decode(),
        properties=MessageProperties(
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            message_id=message.message_id,
            user_id=message.user_id,
            timestamp=message.timestamp,
        ),
    )


class UnknownQueue(LookupError):
    """Not a service queue of the suite."""


def check_queue(queue: str) -> None:
    """UnknownQueue unless `queue` is one of SERVICE_QUEUES."""
    if queue not in SERVICE_QUEUES:
        raise UnknownQueue(f"{queue!r} is no service queue; they are {list(SERVICE_QUEUES)}")


async def depth(connection: AbstractConnection, queue: str) -> int | None:
    """How many dead letters `queue` holds; None when its dead-letter queue does not exist."""
    channel = await connection.channel(publisher_confirms=False)
    try:
        declared = await channel.declare_queue(dead_letter_queue(queue), passive=True)
    except ChannelNotFoundEntity:
        return None  # the broker closed that channel
    count = declared.declaration_result.message_count
    await channel.close()
    return int(count or 0)


async def _take(channel: AbstractChannel, queue: str, limit: int) -> list[AbstractIncomingMessage]:
    """Up to `limit` dead letters, delivered unacked on `channel`."""
    dead = await channel.get_queue(dead_letter_queue(queue), ensure=False)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await dead.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return taken


async def browse(connection: AbstractConnection, queue: str, limit: int) -> list[DeadLetterMessage]:
    """The first `limit` dead letters of `queue`, left where they are."""
    check_queue(queue)
    channel = await connection.channel(publisher_confirms=False)
    try:
        taken = await _take(channel, queue, limit)
        for message in taken:
            await message.nack(requeue=True)
        return [dead_letter_of(message) for message in taken]
    finally:
        await channel.close()  # anything not nacked yet goes back too


async def _replay(channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
    """Publish `message` again where it was first sent, and wait for the broker's confirm."""
    letter = dead_letter_of(message)
    headers = {k: v for k, v in (message.headers or {}).items() if k != "x-delivery-count"}
    await publish(
        channel,
        message.body,
        exchange=letter.exchange,
        routing_key=letter.routing_key,
        # No reply_to nor expiration: whoever waited for an answer stopped long ago.
        properties=aiormq.spec.Basic.Properties(
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            headers=headers,
            delivery_mode=2,
            correlation_id=message.correlation_id,
            message_id=message.message_id,
            timestamp=message.timestamp,
            message_type=message.type,
        ),
        mandatory=True,  # unroutable: DeliveryError, and the dead letter stays
    )


@dataclass(frozen=True, slots=True)
class Settled:
    """What a replay or discard did: ids done, and ids asked for that were not found."""

    done: list[str]
    missing: list[str]


# Passes over the queue before an id asked for is reported missing: a message that another
# channel (a listing) just gave back may not be in the queue yet when this one looks.
SETTLE_PASSES = 3
SETTLE_PAUSE = 0.2


async def settle(
    connection: AbstractConnection, queue: str, action: Action, ids: Iterable[str] | None
) -> Settled:
    """Replay or discard the dead letters of `queue` with the given ids (every one if None)."""
    check_queue(queue)
    wanted = None if ids is None else set(ids)
    done: list[str] = []
    for attempt in range(SETTLE_PASSES if wanted else 1):
        if attempt:
            await asyncio.sleep(SETTLE_PAUSE)
        count = await depth(connection, queue)
        looking = None if wanted is None else wanted - set(done)
        if count:
            done += await _settle_pass(connection, queue, action, looking, count)
        if wanted is not None and not wanted - set(done):
            break
    return Settled(done, sorted((wanted or set()) - set(done)))


async def _settle_pass(
    connection: AbstractConnection,
    queue: str,
    action: Action,
    wanted: set[str] | None,
    count: int,
) -> list[str]:
    """One pass over the queue's `count` first messages; the ids settled."""
    done: list[str] = []
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        for message in await _take(channel, queue, count):
            letter_id = message_id(message.body, message.headers or {})
            if wanted is not None and letter_id not in wanted:
                await message.nack(requeue=True)
                continue
            if action == "replay":
                await _replay(channel, message)
            await message.ack()
            done.append(letter_id)
    finally:
        await channel.close()
    return done

"""Events of some stations (or some commands) only: the per-station and per-action routing keys
of `ocpp.events`, and the bindings with which a service follows a pattern for the stations it
names and no others.

Every event about a station leaves with a `BCC` header (RabbitMQ's sender-selected
distribution) naming one more routing key, `<routing key>.@<station id in hex>`. The topic
exchange routes the message by both keys, puts it once into a queue that either matches, and
strips the header before delivery (the delivery's routing key is the first). A queue bound to
`transaction.started` gets every station's, as before; one bound to
`transaction.started.@4350303031` only CP001's. Hex, because a charge point id may hold `.`,
`*` and `#`, which would be words and wildcards in a topic key. RabbitMQ 4 checks a BCC key
against the publisher's topic permissions as it does the routing key (bus/access.py allows
the suffix).

A router marks such a pattern with `Router.event(pattern, per_station=True)`. The runtime binds
the plain pattern at start, as for any other, so nothing is missed while the service has not
yet bound its stations; the service then binds each station it follows (`follow`), before the
commit of the change that makes it follow it, and drops the plain pattern (`narrow`). Events of
stations it does not follow then never reach its queue: no delivery, no ack, no transaction. A
binding left over after the service stopped following a station costs a delivery its handler
ignores, never a lost event.

A `command.completed` (of an action named as OCPP names them) carries one more BCC key,
`command.completed.action=<action>`: a service that follows the outcomes of a few actions
(`Router.event(pattern, actions=...)`) binds those keys instead of the plain one, so the
outcomes of every other command, most of them, never reach its queue.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustQueue,
    FieldValue,
)

# The AMQP header of sender-selected distribution whose keys the broker removes on delivery.
HEADER_BCC = "BCC"
STATION_MARK = "@"
# What RabbitMQ 4's topic permissions must admit after an event's own key (bus/access.py):
# the longest charge point id (48 characters) is 96 hex digits.
STATION_SUFFIX_REGEX = r"(\.@[0-9a-f]{2,96})?"
ACTION_MARK = "action="
# The events routed by the action they are about as well.
ACTION_KEYED = frozenset({"command.completed"})
# An action as OCPP names them; any other (a refused request may name anything) gets no key.
ACTION_NAME = re.compile(r"[A-Za-z0-9]{1,64}")


def station_key(routing_key: str, charge_point_id: str) -> str:
    """`transaction.started.@4350303031`: the key of `routing_key`'s events of one station
    (the id's UTF-8 in lower-case hex)."""
    return f"{routing_key}.{STATION_MARK}{charge_point_id.encode().hex()}"


def action_key(routing_key: str, action: str) -> str:
    """`command.completed.action=ReserveNow`: the key of `routing_key`'s events of one action."""
    return f"{routing_key}.{ACTION_MARK}{action}"


def routing_headers(
    routing_key: str, charge_point_id: str, action: str = ""
) -> dict[str, FieldValue] | None:
    """The headers that route an event about `charge_point_id` by its station's key too, and a
    `command.completed` by its action's; None when there is neither."""
    keys: list[FieldValue] = []
    if charge_point_id:
        keys.append(station_key(routing_key, charge_point_id))
    if routing_key in ACTION_KEYED and ACTION_NAME.fullmatch(action):
        keys.append(action_key(routing_key, action))
    return {HEADER_BCC: keys} if keys else None


class _About(msgspec.Struct):
    charge_point_id: str = msgspec.field(name="chargePointId", default="")
    action: Any = None  # any type: an odd one must not cost the station's key


_about = msgspec.json.Decoder(_About)


def about(body: bytes) -> tuple[str, str]:
    """The `chargePointId` and `action` of an event's JSON body ("" for one it lacks, or when
    the body is not an object with strings there): the outbox relay reads them without the
    event's model."""
    try:
        read = _about.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", ""
    return read.charge_point_id, read.action if isinstance(read.action, str) else ""


def station_of(body: bytes) -> str:
    """The `chargePointId` of an event's JSON body (see `about`)."""
    return about(body)[0]


async def bind_events(
    queue: AbstractQueue,
    exchange: AbstractExchange,
    patterns: Iterable[str],
    actions: Mapping[str, Sequence[str]],
) -> None:
    """Bind a service's events queue to `patterns`, those in `actions` by the keys of their
    actions alone: the plain binding an earlier release made goes once those are bound."""
    for pattern in patterns:
        wanted = actions.get(pattern, ())
        for key in [action_key(pattern, a) for a in wanted] or [pattern]:
            await queue.bind(exchange, key)
        if wanted:
            await queue.unbind(exchange, pattern)


def binding_patterns(patterns: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """The fewest topic patterns that bind every one of `patterns` (exact event keys): a family
    of which every `known` key is followed per station is bound as `<family>.*`, one binding a
    station instead of one per key (each takes some 2.6 KB of the broker's tables, bench
    "Station bindings"); the rest as they are."""
    wanted = set(patterns)
    families: dict[str, set[str]] = {}
    for key in known:
        family, _, rest = key.partition(".")
        if rest and "." not in rest:
            families.setdefault(family, set()).add(key)
    bound: set[str] = set()
    for pattern in wanted:
        family = pattern.partition(".")[0]
        members = families.get(family, set())
        whole = len(members) > 1 and members <= wanted
        bound.add(f"{family}.*" if whole else pattern)
    return tuple(sorted(bound))


class StationBindings:
    """The per-station bindings of a service's events queue, for its `per_station` patterns
    (bound as `binding_patterns` of them: the suite's event keys are `known`)."""

    def __init__(
        self,
        queue: AbstractQueue,
        exchange: AbstractExchange,
        patterns: Sequence[str],
        known: Iterable[str] = (),
    ) -> None:
        self.queue = queue
        self.exchange = exchange
        self.patterns = tuple(patterns)
        self.keys = binding_patterns(patterns, known)
        # False until `narrow`, and again after `widen`: every station's events come.
        self.narrowed = False

    async def follow(self, charge_point_ids: Iterable[str]) -> None:
        """Receive these stations' events of every per-station pattern (idempotent).

        Not recorded for aio-pika's restore: it binds every recorded key again after each
        reconnection before consuming again, and these are as many as the stations followed.
        They are durable with the queue (quorum, replicated with the cluster's metadata); after a
        reconnection the runtime widens (`widen`), in case the queue was declared anew without
        them, and the service binds its stations again."""
        for cp_id in charge_point_ids:
            for pattern in self.keys:
                key = station_key(pattern, cp_id)
                if isinstance(self.queue, AbstractRobustQueue):
                    await self.queue.bind(self.exchange, key, robust=False)
                else:
                    await self.queue.bind(self.exchange, key)

    async def follow_all(
        self, charge_point_ids: Sequence[str], channels: Sequence[AbstractChannel]
    ) -> None:
        """`follow` for many stations at once (a start), the bindings spread over `channels`:
        a channel carries one synchronous method at a time, and RabbitMQ binds a few thousand
        a second over several where one channel waits for each in turn (bench "Station
        bindings")."""
        keys = [station_key(p, cp_id) for cp_id in charge_point_ids for p in self.keys]
        exchange = self.exchange.name

        async def bind_share(channel: AbstractChannel, share: list[str]) -> None:
            underlay = await channel.get_underlay_channel()
            for key in share:
                await underlay.queue_bind(self.queue.name, exchange, routing_key=key)

        width = max(1, len(channels))
        await asyncio.gather(
            *(bind_share(channel, keys[n::width]) for n, channel in enumerate(channels))
        )

    async def unfollow(self, charge_point_ids: Iterable[str]) -> None:
        """Stop receiving these stations' events of the per-station patterns."""
        for cp_id in charge_point_ids:
            for pattern in self.keys:
                await self.queue.unbind(self.exchange, station_key(pattern, cp_id))

    async def narrow(self) -> None:
        """Drop the plain bindings of the per-station patterns: from now on only the followed
        stations' events of them come. Call it once every station to follow is bound. (Also
        from aio-pika's record: a reconnection does not bind them again.)"""
        for pattern in self.patterns:
            await self.queue.unbind(self.exchange, pattern)
        self.narrowed = True

    async def widen(self) -> None:
        """Bind the plain patterns again: every station's events come, as at start, until the
        service has bound its stations again and narrows. After a reconnection: the queue may
        have been declared anew (a broker reset), without the per-station bindings."""
        self.narrowed = False
        for pattern in self.patterns:
            await self.queue.bind(self.exchange, pattern)

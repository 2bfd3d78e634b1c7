"""Owner beacons: who consumes which OCPP calls right now, so a gateway fails fast.

Every process that consumes a lane of OCPP calls (`<service>.calls`, `<service>.decisions`)
publishes an `OwnerBeacon` on `ocpp.owners` once a second: its routing keys per exchange and
whether its database answers. A beacon holds for `BEACON_LIFETIME`; the last one a process sends
as it stops says `leaving`. Each gateway keeps the table (`Owners`) and answers a decision call
at once with a retriable CALLERROR when the call's key was owned but no live process owns it
now, or every live owner's database is down, instead of letting its station wait out the full
call timeout; the calls already waiting for such a key are failed the same way.

Why beacons: the broker knows at once when a queue loses its consumers, but a gateway's user
cannot ask (a passive queue.declare needs `configure` on the queue from RabbitMQ 4 on, which
would also let it delete the queue), and a service whose database is down still consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import aiormq
from aio_pika import Message
from aio_pika.abc import AbstractRobustConnection

from ..contracts.envelopes import OwnerBeacon

log = logging.getLogger(__name__)

BEACON_INTERVAL = 1.0  # seconds between a process's beacons
# A beacon not renewed within this is a process gone (three missed, and some slack for a busy
# event loop on either side).
BEACON_LIFETIME = 3.5
# How long a process's database check may take before it counts as down.
READY_CHECK_TIMEOUT = 1.5

ReadyCheck = Callable[[], Awaitable[None]]
Publish = Callable[[bytes, float], Awaitable[None]]


def process_name(service: str) -> str:
    """A name no other process of the fleet has: service, host, pid and a random part."""
    return f"{service}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_process_of(service: str, process: str) -> bool:
    """Whether `process` is a name `process_name` gives a process of `service`."""
    return process.startswith(service + "@")


async def beacon_publisher(connection: AbstractRobustConnection, exchange: str) -> Publish:
    """How a process publishes its beacons on `exchange` (`ocpp.owners`): on a channel of its
    own, transient, each gone when it would be stale, from this connection's broker user (the
    broker checks the user_id is the login's; a gateway counts a beacon only from the user of
    the service it names)."""
    channel = await connection.channel(publisher_confirms=False)
    owners = await channel.get_exchange(exchange, ensure=False)
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    user = underlay.connection.url.user or "guest"  # aiormq's login when the URL has none

    async def publish(body: bytes, lifetime: float) -> None:
        # Not mandatory: with no gateway listening (yet) it is simply dropped.
        message = Message(body, expiration=timedelta(seconds=lifetime), user_id=user)
        await owners.publish(message, routing_key="", mandatory=False)

    return publish


class BeaconSender:
    """Sends one process's beacons until stopped; `leave` sends the last one.

    The beacons keep their beat whatever the database does: its check runs beside them, and a
    beacon says what the last check found. A check that fails says the database is down at once
    (and a beacon goes out at once); one that is only slow must be so twice in a row, so a
    service whose loop is busy (the check waits for it too) is not called down."""

    def __init__(
        self,
        service: str,
        lanes: Mapping[str, Iterable[str]],
        publish: Publish,
        ready: ReadyCheck | None = None,
        *,
        interval: float = BEACON_INTERVAL,
        lifetime: float = BEACON_LIFETIME,
        check_timeout: float = READY_CHECK_TIMEOUT,
    ) -> None:
        self.process = process_name(service)
        self._service = service
        self._lanes = {exchange: sorted(keys) for exchange, keys in lanes.items()}
        self._publish = publish
        self._ready = ready
        self._interval = interval
        self._lifetime = lifetime
        self._check_timeout = check_timeout
        self.ready = True  # what the last check found
        self._slow = 0  # checks in a row that took too long

    async def check(self) -> bool:
        """Check the database once; whether what the beacons say changed."""
        if self._ready is None:
            return False
        try:
            # asyncio.timeout, not wait_for: on 3.11 a wait_for cancelled as its check ends can
            # swallow the cancellation, and the loop would beacon on after `leaving`.
            async with asyncio.timeout(self._check_timeout):
                await self._ready()
        except TimeoutError:
            self._slow += 1
            ready = self.ready and self._slow < 2
        except Exception as exc:
            if self.ready:
                log.warning("owner beacon: the database does not answer (%r)", exc)
            ready = False
        else:
            self._slow = 0
            ready = True
        changed, self.ready = ready != self.ready, ready
        if changed and ready:
            log.info("owner beacon: the database answers again")
        return changed

    def beacon(self, leaving: bool = False) -> OwnerBeacon:
        """The beacon this process sends now."""
        return OwnerBeacon(
            service=self._service,
            process=self.process,
            lanes=self._lanes,
            ready=self.ready and not leaving,
            lifetime=self._lifetime,
            leaving=leaving,
        )

    async def send(self) -> None:
        """One beacon, now (dropped quietly when the broker is away: the gateways time the
        process's beacons out)."""
        beacon = self.beacon()
        try:
            await self._publish(beacon.encode(), beacon.lifetime)
        except Exception as exc:
            log.debug("owner beacon not sent: %r", exc)

    async def tell(self) -> None:
        """Check the database, then send a beacon (the first, before the process is ready)."""
        await self.check()
        await self.send()

    async def _checking(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if await self.check():
                await self.send()  # the gateways hear of the change at once

    async def run(self) -> None:
        """After the first (`tell`), a beacon once per interval until cancelled."""
        checking = asyncio.create_task(self._checking(), name="owner-beacon-check")
        try:
            while True:
                await asyncio.sleep(self._interval)
                await self.send()
        finally:
            checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checking

    async def leave(self) -> None:
        """The last beacon: this process stops consuming (the gateways forget it at once)."""
        beacon = self.beacon(leaving=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._publish(beacon.encode(), beacon.lifetime), 1.0)


class Verdict(enum.Enum):
    """Why nobody can take a call of a key that had an owner."""

    GONE = "gone"  # no live process consumes it
    NOT_READY = "not_ready"  # its live owners' databases do not answer


@dataclass(slots=True)
class _Owner:
    service: str
    keys: frozenset[tuple[str, str]]
    ready: bool
    heard: float  # when its last beacon came in
    lifetime: float


# After it begins listening (start, or a reconnect) a gateway judges nothing for this long: a
# service reconnects to a single-node broker up to 5 s after the gateway does (aio-pika's
# reconnect interval), then beacons within a second, and its beacon holds a lifetime.
LISTENING_GRACE = 5.0 + BEACON_INTERVAL + BEACON_LIFETIME


class Owners:
    """A gateway's view of the beacons: for a call's (exchange, routing key), whether a live and
    ready process consumes it.

    A process is gone when the gateway has heard other beacons for a whole lifetime after its
    last one: time is told by the beacons themselves, so a gateway whose loop stalled, or whose
    consumer is behind, does not take its own deafness for its owners' death (it catches up
    with their beacons in the order they were sent). The price: while no process at all sends
    beacons (every service down, or one service owning every call), nothing is judged, and
    calls wait as without beacons. Only a key some beacon named since the gateway began
    listening is judged: one never named (a service of a version before beacons, a test's
    stand-in consumer) is sent as before, and so is every key for `LISTENING_GRACE` after
    listening began."""

    def __init__(self) -> None:
        self._owners: dict[str, _Owner] = {}
        self._by_key: dict[tuple[str, str], set[str]] = {}
        self._since: float | None = None
        self._last_heard: float | None = None  # the newest beacon's arrival, any process's

    def listening(self, now: float) -> None:
        """Beacons are coming in from now on (start, or back after a lost connection: the
        beacons missed meanwhile say nothing of the owners)."""
        self._since = now

    def _live(self, owner: _Owner) -> bool:
        assert self._last_heard is not None
        return self._last_heard - owner.heard < owner.lifetime

    def heard(self, beacon: OwnerBeacon, now: float) -> None:
        """Take a beacon in."""
        self._last_heard = now
        known = self._owners.pop(beacon.process, None)
        if known is not None:
            for key in known.keys:
                self._by_key[key].discard(beacon.process)
        if beacon.leaving:
            return
        keys = frozenset(
            (exchange, routing_key)
            for exchange, routing_keys in beacon.lanes.items()
            for routing_key in routing_keys
        )
        self._owners[beacon.process] = _Owner(
            beacon.service, keys, beacon.ready, now, beacon.lifetime
        )
        for key in keys:
            self._by_key.setdefault(key, set()).add(beacon.process)

    def verdict(self, exchange: str, routing_key: str, now: float) -> Verdict | None:
        """None: send the call (a live, ready owner, or nothing known); else why not."""
        if self._since is None or now < self._since + LISTENING_GRACE:
            return None
        processes = self._by_key.get((exchange, routing_key))
        if processes is None:
            return None
        live = [self._owners[p] for p in processes if self._live(self._owners[p])]
        if not live:
            return Verdict.GONE
        if not any(owner.ready for owner in live):
            return Verdict.NOT_READY
        return None

    def forget_expired(self) -> list[str]:
        """Drop the processes gone (see the class); their names (their keys stay judged)."""
        if self._last_heard is None:
            return []
        gone = [process for process, owner in self._owners.items() if not self._live(owner)]
        for process in gone:
            for key in self._owners.pop(process).keys:
                self._by_key[key].discard(process)
        return gone

    def services(self) -> dict[str, tuple[int, int]]:
        """Per service: live processes, and how many of them are ready."""
        counts: dict[str, tuple[int, int]] = {}
        for owner in self._owners.values():
            if self._live(owner):
                live, ready = counts.get(owner.service, (0, 0))
                counts[owner.service] = (live + 1, ready + owner.ready)
        return counts

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


class BeaconSender:
    """Sends one process's beacons until stopped; `leave` sends the last one."""

    def __init__(
        self,
        service: str,
        lanes: Mapping[str, Iterable[str]],
        publish: Publish,
        ready: ReadyCheck | None = None,
        *,
        interval: float = BEACON_INTERVAL,
        lifetime: float = BEACON_LIFETIME,
    ) -> None:
        self.process = process_name(service)
        self._service = service
        self._lanes = {exchange: sorted(keys) for exchange, keys in lanes.items()}
        self._publish = publish
        self._ready = ready
        self._interval = interval
        self._lifetime = lifetime
        self._was_ready: bool | None = None

    async def _is_ready(self) -> bool:
        if self._ready is None:
            return True
        try:
            await asyncio.wait_for(self._ready(), READY_CHECK_TIMEOUT)
        except Exception as exc:
            if self._was_ready is not False:
                log.warning("owner beacon: the database does not answer (%r)", exc)
            return False
        if self._was_ready is False:
            log.info("owner beacon: the database answers again")
        return True

    def beacon(self, ready: bool, leaving: bool = False) -> OwnerBeacon:
        """The beacon this process sends now."""
        return OwnerBeacon(
            service=self._service,
            process=self.process,
            lanes=self._lanes,
            ready=ready,
            lifetime=self._lifetime,
            leaving=leaving,
        )

    async def _send(self, beacon: OwnerBeacon) -> None:
        try:
            await self._publish(beacon.encode(), beacon.lifetime)
        except Exception as exc:  # the broker is away: the gateways time the beacon out
            log.debug("owner beacon not sent: %r", exc)

    async def tell(self) -> None:
        """Check the database and send a beacon now."""
        ready = await self._is_ready()
        self._was_ready = ready
        await self._send(self.beacon(ready))

    async def run(self) -> None:
        """After the first (`tell`), a beacon once per interval until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            await self.tell()

    async def leave(self) -> None:
        """The last beacon: this process stops consuming (the gateways forget it at once)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._send(self.beacon(False, leaving=True)), 1.0)


class Verdict(enum.Enum):
    """Why nobody can take a call of a key that had an owner."""

    GONE = "gone"  # no live process consumes it
    NOT_READY = "not_ready"  # its live owners' databases do not answer


@dataclass(slots=True)
class _Owner:
    service: str
    keys: frozenset[tuple[str, str]]
    ready: bool
    expires: float


class Owners:
    """A gateway's view of the beacons: for a call's (exchange, routing key), whether a live and
    ready process consumes it.

    Only a key some beacon named since the gateway began listening is judged: one never named
    (a service of a version before beacons, a test's stand-in consumer) is sent as before, and
    so is every key until a beacon's lifetime has passed since listening began (each live owner
    has said so by then). Nor is anything judged while no beacon at all came for a lifetime: the
    gateway may be the one not hearing (its loop stalled, its consumer behind), and after such a
    silence the owners get a lifetime to be heard again."""

    def __init__(self) -> None:
        self._owners: dict[str, _Owner] = {}
        self._by_key: dict[tuple[str, str], set[str]] = {}
        self._since: float | None = None
        self._last_heard: float | None = None

    def listening(self, now: float) -> None:
        """Beacons are coming in from now on (start, or back after a lost connection: the
        beacons missed meanwhile say nothing of the owners)."""
        self._since = now
        for owner in self._owners.values():
            owner.expires = max(owner.expires, now + BEACON_LIFETIME)

    def heard(self, beacon: OwnerBeacon, now: float) -> None:
        """Take a beacon in."""
        if self._last_heard is not None and now - self._last_heard >= BEACON_LIFETIME:
            self.listening(now)  # deaf for a while: what expired meanwhile says nothing
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
            beacon.service, keys, beacon.ready, now + beacon.lifetime
        )
        for key in keys:
            self._by_key.setdefault(key, set()).add(beacon.process)

    def verdict(self, exchange: str, routing_key: str, now: float) -> Verdict | None:
        """None: send the call (a live, ready owner, or nothing known); else why not."""
        if self._since is None or now < self._since + BEACON_LIFETIME:
            return None
        if self._last_heard is None or now - self._last_heard >= BEACON_LIFETIME:
            return None
        processes = self._by_key.get((exchange, routing_key))
        if processes is None:
            return None
        live = [self._owners[p] for p in processes if self._owners[p].expires > now]
        if not live:
            return Verdict.GONE
        if not any(owner.ready for owner in live):
            return Verdict.NOT_READY
        return None

    def forget_expired(self, now: float) -> list[str]:
        """Drop the processes whose beacon expired; their names (keys stay judged)."""
        gone = [process for process, owner in self._owners.items() if owner.expires <= now]
        for process in gone:
            for key in self._owners.pop(process).keys:
                self._by_key[key].discard(process)
        return gone

    def services(self, now: float) -> dict[str, tuple[int, int]]:
        """Per service: live processes, and how many of them are ready."""
        counts: dict[str, tuple[int, int]] = {}
        for owner in self._owners.values():
            if owner.expires > now:
                live, ready = counts.get(owner.service, (0, 0))
                counts[owner.service] = (live + 1, ready + owner.ready)
        return counts

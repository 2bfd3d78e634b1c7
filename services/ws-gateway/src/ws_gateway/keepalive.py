"""Keepalive: every connection pinged from one task, not from a task of its own.

websockets pings each connection from a task of its own that sleeps between pings: about 1.9
KiB per idle connection (a task, its coroutine and its timer), the largest part of an idle
connection that is not the connection itself. Here one task visits the connections once a
second, each in its slot (one per second of the interval, by the connection's hash, so a
storm's connections do not all fall due together), and pings those whose slot has come. A
ping runs in a short task of its own, which waits for its pong at most `timeout` seconds and
closes the connection with 1011 "keepalive ping timeout" if none came (as websockets does); a
live connection holds it for one round trip. At rest a connection costs one set entry.

A connection is pinged first within `interval` of being added (when its slot comes), then every
`interval`; one whose ping is still out when its slot comes again is not pinged twice. Closing
a dead one is bounded too: if its close frame cannot leave (its peer reads nothing), its
transport is aborted after the close timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math

from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

CLOSE_PING_TIMEOUT = 1011
PING_TIMEOUTS = Counter(
    "csms_gateway_keepalive_timeouts_total",
    "Connections closed because a WebSocket ping got no pong in time",
)


class Keepalive:
    """Pings the connections added to it every `interval` seconds from one task (`run`)."""

    def __init__(self, interval: float, timeout: float, tick: float = 1.0) -> None:
        self._timeout = timeout
        self._tick = min(tick, interval)
        self._slots: list[set[ServerConnection]] = [
            set() for _ in range(max(1, math.ceil(interval / self._tick)))
        ]
        # Pings out (awaiting their pong), by connection.
        self._out: dict[ServerConnection, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        """How many connections it pings."""
        return sum(len(slot) for slot in self._slots)

    def sizes(self) -> list[int]:
        """How many connections each slot holds (a slot is pinged per tick)."""
        return [len(slot) for slot in self._slots]

    def add(self, ws: ServerConnection) -> None:
        """Ping this connection from now on."""
        self._slot(ws).add(ws)

    def discard(self, ws: ServerConnection) -> None:
        """Stop pinging it (closed)."""
        self._slot(ws).discard(ws)

    def _slot(self, ws: ServerConnection) -> set[ServerConnection]:
        # A tuple's hash mixes the id: `hash(ws)` alone is its address over 16, and objects of
        # one size lie at fixed strides, which left half the slots empty.
        return self._slots[hash((ws,)) % len(self._slots)]

    async def run(self) -> None:
        """Visit one slot per tick, for ever; cancelled, it cancels the pings out."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        visit = 0
        try:
            while True:
                visit += 1
                # Ticks by the clock, not by sleeps: a busy loop catches up instead of drifting,
                # by one round of the slots at most after a stall.
                behind = int((loop.time() - start) / self._tick) - len(self._slots)
                visit = max(visit, behind)
                await asyncio.sleep(max(0.0, start + visit * self._tick - loop.time()))
                for ws in self._slots[visit % len(self._slots)]:
                    if ws not in self._out:
                        self._ping(ws)
        finally:
            for task in list(self._out.values()):
                task.cancel()

    def _ping(self, ws: ServerConnection) -> None:
        task = asyncio.create_task(self._ping_once(ws))
        self._out[ws] = task
        task.add_done_callback(lambda _: self._out.pop(ws, None))

    async def _ping_once(self, ws: ServerConnection) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                pong = await ws.ping()
                await pong
        except ConnectionClosed:
            return
        except TimeoutError:
            PING_TIMEOUTS.inc()
            path = ws.request.path if ws.request is not None else "?"
            log.info(
                "closing %s from %s: no pong within %.0f s", path, ws.remote_address, self._timeout
            )
            # Bounded: a dead peer's full write buffer would hold the close frame for ever.
            try:
                async with asyncio.timeout(ws.close_timeout or self._timeout):
                    await ws.close(CLOSE_PING_TIMEOUT, "keepalive ping timeout")
            except ConnectionClosed:
                pass
            except TimeoutError:
                ws.transport.abort()
        except Exception:  # never left unretrieved in its task
            log.warning("a keepalive ping failed", exc_info=True)

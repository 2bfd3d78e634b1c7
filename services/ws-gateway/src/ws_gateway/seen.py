"""Last seen, coalesced: Heartbeats are answered here, their times leave in batches.

A Heartbeat's only effect on the central system is the CP's last-seen time. The gateway answers
it from its own clock and keeps the newest receive time per CP; every `seen_flush_seconds` one
persistent `station.seen` event per chunk of CPs carries those times to the registry, which
applies each chunk with one statement. A gateway that dies between flushes loses at most that
many seconds of last-seen (never a transaction or a meter value: those still go one by one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from prometheus_client import Counter

from csms_shared.contracts.event_base import Event
from csms_shared.contracts.events import StationSeen

log = logging.getLogger(__name__)

SEEN_EVENT = StationSeen.key()
SEEN_FLUSHED = Counter(
    "csms_gateway_seen_flushed_total", "CP last-seen times published", ["outcome"]
)

Publish = Callable[[Event], Awaitable[None]]


class SeenTracker:
    """The newest Heartbeat time of each CP since the last flush."""

    __slots__ = ("_chunk", "_failed", "_gateway", "_lock", "_ok", "_pending", "_publish")

    def __init__(self, gateway: str, publish: Publish, chunk: int = 1000) -> None:
        self._gateway = gateway
        self._publish = publish
        self._chunk = max(1, chunk)
        self._pending: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self._ok = SEEN_FLUSHED.labels("published")
        self._failed = SEEN_FLUSHED.labels("failed")

    def record(self, cp_id: str, at: datetime) -> None:
        """The CP was heard from at `at` (the gateway's receive time)."""
        self._pending[cp_id] = at

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Publish what was recorded, in chunks; what fails to publish waits for the next flush."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            items = list(pending.items())
            for start in range(0, len(items), self._chunk):
                chunk = items[start : start + self._chunk]
                seen = StationSeen(gateway=self._gateway, seen=dict(chunk))
                try:
                    await self._publish(seen)
                except asyncio.CancelledError:
                    # Stopping: keep them for the final flush (a duplicate does no harm).
                    self._restore(items[start:])
                    raise
                except Exception:
                    log.warning("could not publish %s; retrying at the next flush", SEEN_EVENT)
                    self._failed.inc(len(items) - start)
                    self._restore(items[start:])
                    return
                self._ok.inc(len(chunk))

    def _restore(self, items: list[tuple[str, datetime]]) -> None:
        # Times recorded since the flush began are newer: they win.
        for cp_id, at in items:
            current = self._pending.get(cp_id)
            if current is None or current < at:
                self._pending[cp_id] = at

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.flush()

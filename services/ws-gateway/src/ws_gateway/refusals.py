"""What a refused handshake leaves behind, bounded whatever a stranger sends.

Every refusal is counted in a metric. A log line goes out at most once a second per address
(saying how many it stands for). Only a charge point the central system knows gets records in
its message log, at most one per (charge point, address) a minute, with the number of refusals
it stands for: made-up ids write nothing anyone keeps, and a CP retrying with a wrong key every
second writes one record a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache
from prometheus_client import Counter

from csms_shared.bus.message_log import RecordKind, RefusedDetails

from .message_log import MessageLog

log = logging.getLogger(__name__)

REFUSED = Counter(
    "csms_gateway_handshake_refusals_total",
    "Refused handshakes by HTTP status and whether the id is a charge point the CSMS knows",
    ["status", "charge_point"],
)
WINDOW_SECONDS = 60.0
LOG_EVERY_SECONDS = 1.0


@dataclass(slots=True)
class _Pair:
    """A (charge point, address) pair's refusals since its last record."""

    opened: float
    count: int = 0
    since: float = 0.0
    details: RefusedDetails | None = None  # the last refusal's, once there is one


class Refusals:
    """Records refused handshakes: metric, throttled log, sampled message-log records."""

    def __init__(
        self,
        message_log: MessageLog | None,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = message_log
        self._window = window
        self._clock = clock
        self._pairs: dict[tuple[str, str], _Pair] = {}
        # address -> (when it last logged, refusals not logged since)
        self._logged: TTLCache[str, list[float]] = TTLCache(65_536, ttl=LOG_EVERY_SECONDS * 10)

    def refused(
        self,
        cp_id: str | None,
        known: bool,
        address: str,
        status: int,
        reason: str,
        retry_after: str | None = None,
    ) -> None:
        """One refused handshake at `/ocpp/{cp_id}` (None: another path or a malformed id)."""
        REFUSED.labels(str(status), "known" if known else "unknown").inc()
        self._log_line(cp_id, address, status, reason, retry_after)
        if not known or cp_id is None or self._log is None:
            return
        details = RefusedDetails(
            status=status, reason=reason, address=address, gateway=self._log.gateway, count=1
        )
        now = self._clock()
        pair = self._pairs.get((cp_id, address))
        if pair is None:
            # The first of a window goes at once; the rest of the window is summed up at its end.
            self._pairs[(cp_id, address)] = _Pair(opened=now)
            self._log.event(cp_id, RecordKind.REFUSED, details)
            return
        if pair.count == 0:
            pair.since = time.time()
        pair.count += 1
        pair.details = details

    def _log_line(
        self, cp_id: str | None, address: str, status: int, reason: str, retry_after: str | None
    ) -> None:
        now = self._clock()
        seen = self._logged.get(address)
        if seen is not None and now - seen[0] < LOG_EVERY_SECONDS:
            seen[1] += 1
            return
        more = int(seen[1]) if seen is not None else 0
        self._logged[address] = [now, 0]
        log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "handshake of %r from %s refused: %d %s%s%s",
            (cp_id or "?")[:64],
            address,
            status,
            reason,
            f" (Retry-After {retry_after} s)" if retry_after else "",
            f" ({more} more from this address not logged)" if more else "",
        )

    def flush(self) -> None:
        """Close the windows that ended: one record each for the refusals held back in it."""
        if self._log is None:
            return
        now = self._clock()
        for key, pair in list(self._pairs.items()):
            if now - pair.opened < self._window:
                continue
            if pair.details is None:
                del self._pairs[key]  # a quiet window: the next refusal is written at once
                continue
            details: RefusedDetails = {
                **pair.details,
                "count": pair.count,
                "since": round(pair.since * 1000),
            }
            self._log.event(key[0], RecordKind.REFUSED, details)
            # The next window starts now: still at most one record a minute for this pair.
            self._pairs[key] = _Pair(opened=now)

    async def run(self, interval: float = 1.0) -> None:
        """Flush every `interval` seconds, for ever."""
        while True:
            await asyncio.sleep(interval)
            self.flush()

"""Handshake slots: a connect storm waits its turn for admission, and those refused are spread.

At most `limit` handshakes are in admission (asking the registry) at once. More wait for a slot,
first come first served, up to `wait` seconds each and at most `max_waiting` of them: a storm's
CPs are let in as slots free instead of being refused and coming back later. A handshake is not
refused for the rate admissions have been ending: while a storm's handshakes arrive, the gateway
spends itself parsing them and admissions end slowly, and once they have arrived they end
several times faster (issue 45: judged by the rate at arrival, a storm of 5,000 at two gateways
had a quarter refused, all of whom waited would have been in within 8 s). Its request is already
read, so holding it costs a future; a refusal costs the CP at least the Retry-After and a second
handshake. A CP refused (the queue full, or its wait over) is told to come back after a
Retry-After spread over the time this gateway needs to admit what it holds and what it refused
lately, at the rate admissions have been ending: the refused return at about the pace they can be
let in, not all in the same second.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import Counter, Gauge

# Admissions and refusals are counted over this many seconds to judge the rate and the load.
WINDOW_SECONDS = 5.0
WAITING = Gauge("csms_gateway_handshakes_waiting", "Handshakes waiting for an admission slot")
QUEUED = Counter(
    "csms_gateway_handshakes_queued_total",
    "Handshakes that waited for an admission slot (admitted or refused after)",
)


def spread(backlog: int, rate: float, shortest: float, longest: float) -> float:
    """Seconds over which `backlog` refused CPs should return to a gateway admitting `rate` a
    second: the time it takes to let them in, within [shortest, longest]."""
    if rate <= 0:
        return longest
    return min(longest, max(shortest, backlog / rate))


def retry_after(window: float, rng: random.Random | None = None) -> int:
    """A Retry-After in whole seconds: 1 to 1 + `window`, at random (uniform)."""
    return 1 + (rng or random).randint(0, max(0, math.ceil(window)))


class HandshakeSlots:
    """Bounds the handshakes in admission; more wait briefly for a slot."""

    def __init__(
        self,
        limit: int,
        max_waiting: int,
        wait: float,
        *,
        shortest: float = 1.0,
        longest: float = 60.0,
        least_rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._max_waiting = max_waiting
        self._wait = wait
        self._shortest = shortest
        self._longest = longest
        # Admissions a second however slow the registry: each slot is given back within the
        # admission timeout, answered or not.
        self._least_rate = least_rate
        self._clock = clock
        self._busy = 0
        # Only handshakes still waiting: one whose time runs out leaves at once.
        self._waiters: deque[asyncio.Future[None]] = deque()
        # When recent admissions ended and refusals were given, oldest first.
        self._ended: deque[float] = deque()
        self._refused: deque[float] = deque()

    @property
    def busy(self) -> int:
        """Handshakes holding a slot."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Handshakes waiting for a slot."""
        return len(self._waiters)

    async def acquire(self) -> bool:
        """Take a slot, waiting up to `wait` seconds for one; False when none came (the caller
        refuses the handshake and must not release)."""
        if self._busy < self._limit and not self.waiting:
            self._busy += 1
            return True
        if self.waiting >= self._max_waiting or self._wait <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        QUEUED.inc()
        WAITING.inc()
        try:
            async with asyncio.timeout(self._wait):
                await asyncio.shield(waiter)
        except TimeoutError:
            # A slot handed over as the time ran out is taken, not lost.
            if waiter.done():
                return True
            self._waiters.remove(waiter)
            WAITING.dec()
            return False
        except asyncio.CancelledError:
            if waiter.done():
                self.release()  # handed over to a handshake that is gone: pass it on
            else:
                self._waiters.remove(waiter)
                WAITING.dec()
            raise
        return True

    def release(self) -> None:
        """Give a slot back: to the longest waiting handshake, if any."""
        self._ended.append(self._clock())
        if self._waiters:
            # Waiters leave the queue when their time runs out: the first one still waits.
            self._waiters.popleft().set_result(None)  # the slot passes on; `busy` stays
            WAITING.dec()
            return
        self._busy -= 1

    def refused(self) -> int:
        """Count a refusal for overload; the Retry-After (seconds) to give it."""
        now = self._clock()
        self._refused.append(now)
        return retry_after(self.window(now))

    def rate(self, now: float | None = None) -> float:
        """Admissions ended a second lately (over the last WINDOW_SECONDS, or since the first of
        them, at least a second), never below the least rate."""
        now = self._clock() if now is None else now
        self._forget(now)
        if not self._ended:
            return self._least_rate
        span = min(WINDOW_SECONDS, max(1.0, now - self._ended[0]))
        return max(self._least_rate, len(self._ended) / span)

    def window(self, now: float | None = None) -> float:
        """Seconds over which refused CPs are spread now: the handshakes held and those refused
        lately, at the rate admissions ended lately."""
        now = self._clock() if now is None else now
        rate = self.rate(now)
        backlog = self._busy + self.waiting + len(self._refused)
        return spread(backlog, rate, self._shortest, self._longest)

    def _forget(self, now: float) -> None:
        for stamps in (self._ended, self._refused):
            while stamps and stamps[0] < now - WINDOW_SECONDS:
                stamps.popleft()

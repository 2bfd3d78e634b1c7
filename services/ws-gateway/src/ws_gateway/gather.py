"""Gathering CALLs: one AMQP message per action for the CALLs that queue meanwhile (a bundle),
the one way every CALL of a kind leaves the gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from prometheus_client import Histogram

from csms_shared.bus.bundle import BUNDLE_MAX
from csms_shared.ocpp import JsonObject


@dataclass(slots=True)
class Waiting:
    """A CALL waiting for the next bundle of its action."""

    cp_id: str
    message_id: str
    received: str  # ISO 8601, the gateway's receive time
    payload: JsonObject
    future: asyncio.Future[Any]  # what its CP's worker awaits
    timeout: float = 0.0  # decision calls: how long to wait for the answer
    deadline: int = 0  # decision calls: the service starts no later, ms (HEADER_DEADLINE)
    traceparent: str | None = None  # the call's span, when traces are on
    queued: float = 0.0  # loop time it came in (decision calls: how long its action is behind)


BUNDLED = Histogram(
    "csms_gateway_bundle_calls",
    "CP CALLs that left in one AMQP message",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 50, 100),
)


class Gatherer:
    """CALLs of one kind waiting to leave together, one message per key (the calls' routing
    key: one action of one OCPP version), at most `most` CALLs in it (1: every CALL alone, for
    services that do not read bundles). "Action" below means such a key.

    Paced (`in_flight=None`, notifications): at most one bundle of an action leaves per `wait`
    seconds. A CALL after a quiet spell (its action's last bundle left `wait` ago or longer)
    leaves on the next turn of the event loop; one that comes sooner waits until `wait` after
    that bundle, and whatever arrived by then leaves with it. An idle gateway adds no delay
    and a busy one at most `wait`, while the bundles grow with the rate.

    Gated (`in_flight=k`, decision calls): a CALL leaves on the next turn unless k bundles of
    its action still await their answer (not yet through); then it leaves with the
    others that queued meanwhile, as soon as one of them is answered. An idle gateway adds no
    delay; a busy one sends fewer, larger messages, and the owner answers each from one
    transaction. More than one in flight: one slow bundle does not hold up its action.
    `in_flight=0`: answers are awaited (`behind`) but nothing waits for them.
    """

    def __init__(
        self,
        kind: str,
        send: Callable[[str, list[Waiting]], Coroutine[Any, Any, None]],
        *,
        most: int = BUNDLE_MAX,
        wait: float = 0.0,
        in_flight: int | None = None,
    ) -> None:
        self._sizes = BUNDLED.labels(kind)
        self._send = send
        self._most = max(1, min(most, BUNDLE_MAX))
        self._wait = wait if self._most > 1 else 0.0
        self._limit = in_flight
        self._waiting: dict[str, list[Waiting]] = {}
        self._out: dict[str, int] = {}
        # When the first call of each bundle still awaiting its answer came in.
        self._out_since: dict[str, list[float]] = {}
        self._last_flush: dict[str, float] = {}  # loop time of a key's last bundle (paced)
        self._tasks: set[asyncio.Task[None]] = set()
        # The bundles of each key on their way or awaiting their answer, with their calls.
        self._sending: dict[str, dict[asyncio.Task[None], list[Waiting]]] = {}

    def _gate_open(self, key: str) -> bool:
        return not self._limit or self._out.get(key, 0) < self._limit

    def add(self, key: str, item: Waiting) -> None:
        """Queue a CALL for the next bundle of its key."""
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = [item]
            if self._most > 1 and self._gate_open(key):
                loop = asyncio.get_running_loop()
                due = self._last_flush.get(key, -self._wait) + self._wait
                if due > loop.time():
                    loop.call_at(due, self._flush, key)
                else:
                    loop.call_soon(self._flush, key)
        else:
            waiting.append(item)
        if len(waiting) >= self._most:
            self._flush(key)

    def behind(self, key: str, now: float) -> float:
        """Seconds the oldest call of `key` not yet answered has waited (0: none):
        how far behind the owner of the key is."""
        since = self._out_since.get(key)
        oldest = min(since) if since else now
        waiting = self._waiting.get(key)
        if waiting:
            oldest = min(oldest, waiting[0].queued)
        return max(0.0, now - oldest)

    def pending(self) -> list[str]:
        """The keys with calls queued or out awaiting their answer."""
        return list(self._waiting.keys() | self._sending.keys())

    def abandon(self, key: str, error: BaseException, *, sent: bool = True) -> int:
        """Fail the calls of `key` queued here with `error`, and with `sent` those out too (the
        bundles out stop waiting, so their in-flight places free at once). How many calls were
        failed."""
        failed = 0
        queued = self._waiting.pop(key, [])
        for task, bundle in list(self._sending.get(key, {}).items()) if sent else ():
            queued.extend(bundle)
            task.cancel()
        for item in queued:
            if not item.future.done():
                item.future.set_exception(error)
                failed += 1
        return failed

    def _done(self, key: str, bundle: list[Waiting]) -> None:
        """A gated bundle of `key` is through (answered, failed or cancelled, even before it
        ran): what queued behind it may leave."""
        self._out[key] -= 1
        since = self._out_since.get(key)
        if bundle and since:
            with contextlib.suppress(ValueError):
                since.remove(bundle[0].queued)
        if key in self._waiting and self._gate_open(key):
            self._flush(key)

    def _flush(self, key: str) -> None:
        waiting = self._waiting.pop(key, None)
        if waiting:
            # Calls whose CP went away, or whose wait expired, while they queued.
            waiting = [item for item in waiting if not item.future.done()]
        if waiting:
            self._sizes.observe(len(waiting))
            if self._wait:
                self._last_flush[key] = asyncio.get_running_loop().time()
            if self._limit is not None:
                self._out[key] = self._out.get(key, 0) + 1
                self._out_since.setdefault(key, []).append(waiting[0].queued)
            task = asyncio.create_task(self._send(key, waiting))
            self._tasks.add(task)
            self._sending.setdefault(key, {})[task] = waiting
            task.add_done_callback(partial(self._sent, key))

    def _sent(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        sending = self._sending.get(key)
        bundle = sending.pop(task, []) if sending is not None else []
        if sending is not None and not sending:
            del self._sending[key]
        if self._limit is not None:
            self._done(key, bundle)


def settle(waiting: list[Waiting], results: list[Any] | BaseException) -> None:
    """Hand each waiting CALL its result, or the same exception to all."""
    for n, item in enumerate(waiting):
        if item.future.done():  # its CP went away meanwhile
            continue
        if isinstance(results, BaseException):
            item.future.set_exception(results)
        else:
            item.future.set_result(results[n])

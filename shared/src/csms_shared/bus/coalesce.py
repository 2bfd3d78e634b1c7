"""Coalesce: calls or events of one key that queue meanwhile are handled together (group commit).

The one mechanism for decision calls, notifications and events alike. Whoever gets one of a
key's lanes (and a handler slot) hands everything queued under the key by then, up to `limit`,
to one `handle` call, which runs them in one transaction. An idle service handles each item at
once; a busy one pays one transaction for many, and its groups grow with the load.

Items nobody waits on (notifications: the gateway answered the CP already) may `linger`: a lane
holder waits until the oldest queued item is that old, or the group is full, before it takes the
group. A group then costs one transaction per `linger` rather than per lane turn (bench: the
session-service's CPU per MeterValues); items queued longer than that are taken at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Items of one key in transactions at once (each handling a group of them).
GROUP_LANES = 2
# A group holds at most this many items.
GROUP_MAX = 100
# ... on the bulk lane (`ocpp.calls`): a group there pays a fixed cost whatever its size (its
# transactions locked, the copies looked up, five statements and a commit: ~60 ms on a busy
# two-core machine), and the next group of the same stations waits for its commit, so a backlog
# drains faster in fewer, larger groups (bench/RESULTS.md, "Bulk groups of 300"). Decisions keep
# `GROUP_MAX`: their groups are small, and a large one would make its first call wait.
BULK_GROUP_MAX = 300
# How long notifications may wait for their group to fill (seconds).
GROUP_LINGER = 0.02


def shard_of(name: str, shards: int) -> int:
    """The shard (0 .. shards - 1) of a station: the same in every process and every run.

    A bulk action's groups may be split by station (`Coalescer(shards=...)`): a group locks its
    stations' transactions, and with every station in every bundle (a busy fleet) the next group
    of the action waits for the commit of the one before it; shards hold different stations, so
    their groups never wait for each other (bench/RESULTS.md, "Bulk groups sharded by station,
    as an option")."""
    return zlib.crc32(name.encode()) % shards if shards > 1 else 0


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    """An item waiting for its group, and the future its outcome goes to."""

    item: T
    future: asyncio.Future[R]
    since: float  # loop time it was queued
    taken: bool = False  # by a group: handled, or being handled


class Coalescer(Generic[T, R]):
    """Queues items by key and hands each lane's turn every item queued under that key."""

    def __init__(
        self,
        slots: contextlib.AbstractAsyncContextManager[Any],
        *,
        lanes: int = GROUP_LANES,
        limit: int = GROUP_MAX,
        shards: int = 1,
    ) -> None:
        self.slots = slots
        self.lanes = lanes
        self.limit = limit
        self.shards = max(1, shards)
        self._queued: dict[str, list[_Waiting[T, R]]] = {}
        self._lanes: dict[str, asyncio.Semaphore] = {}
        self._full: dict[str, asyncio.Event] = {}  # set when a key's queue holds a full group
        self._hurried = 0  # while above 0 nothing lingers (`hurried`)

    def waiting(self, key: str) -> int:
        """How many items wait under `key` (in any of its shards) for a lane."""
        keys = [key, *(_sharded(key, n) for n in range(self.shards))]
        return sum(len(self._queued.get(k, ())) for k in keys)

    async def submit(
        self,
        key: str,
        items: list[T],
        handle: Callable[[list[T]], Awaitable[list[R]]],
        *,
        linger: float = 0.0,
        station: Callable[[T], str] | None = None,
    ) -> list[R]:
        """The outcomes of `items`, in order, each handled in a group of its key.

        With `station` and more than one shard, each item goes to its station's shard of the
        key (`<key>#<shard>`): a group holds one shard's items, each shard has its own lanes,
        and the caller gets its outcomes once every shard of its items handled them."""
        if station is None or self.shards == 1:
            return await self._submit(key, items, handle, linger)
        parts: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            parts.setdefault(shard_of(station(item), self.shards), []).append(index)
        if len(parts) == 1:
            [(shard, _)] = parts.items()
            return await self._submit(_sharded(key, shard), items, handle, linger)
        results = await asyncio.gather(
            *(
                self._submit(_sharded(key, shard), [items[i] for i in indices], handle, linger)
                for shard, indices in parts.items()
            )
        )
        found: dict[int, R] = {}
        for indices, result in zip(parts.values(), results, strict=True):
            found.update(zip(indices, result, strict=True))
        return [found[index] for index in range(len(items))]

    async def _submit(
        self,
        key: str,
        items: list[T],
        handle: Callable[[list[T]], Awaitable[list[R]]],
        linger: float,
    ) -> list[R]:
        """`submit` of one key (or one shard of it).

        `handle` gets a group and returns one outcome per item. The caller takes lane turns
        until all its items were taken by a group (its own turn, or another caller's); with
        `linger`, a turn first lets the group fill (`_fill`), holding its lane but no slot."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        entries: list[_Waiting[T, R]] = [
            _Waiting(item, loop.create_future(), now) for item in items
        ]
        queued = self._queued.setdefault(key, [])
        queued.extend(entries)
        if len(queued) >= self.limit and key in self._full:
            self._full[key].set()
        lanes = self._lanes.get(key)
        if lanes is None:
            lanes = self._lanes[key] = asyncio.Semaphore(self.lanes)
        while not all(entry.taken for entry in entries):
            async with lanes:
                if linger > 0:
                    await self._fill(key, linger)
                async with self.slots:
                    await self._turn(key, handle)
        futures = [entry.future for entry in entries]
        if all(future.done() for future in futures):  # taken by this caller's own turns
            return [future.result() for future in futures]
        return list(await asyncio.gather(*futures))

    @contextlib.contextmanager
    def hurried(self) -> Iterator[None]:
        """While inside, no group lingers, those lingering now included: someone waits for every
        item queued so far to be handled (bus/arrivals.py)."""
        self._hurried += 1
        for full in self._full.values():
            full.set()
        try:
            yield
        finally:
            self._hurried -= 1

    async def _fill(self, key: str, linger: float) -> None:
        """Wait until the oldest item of `key` has waited `linger`, or a group is full."""
        queued = self._queued.get(key)
        if not queued or len(queued) >= self.limit or self._hurried:
            return
        delay = queued[0].since + linger - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        full = self._full.setdefault(key, asyncio.Event())
        full.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), delay)

    async def _turn(self, key: str, handle: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        queued = self._queued.pop(key, None)
        if not queued:
            return
        group = queued[: self.limit]
        if len(queued) > len(group):
            self._queued[key] = queued[len(group) :]
        for entry in group:
            entry.taken = True
        try:
            outcomes = await handle([entry.item for entry in group])
        except BaseException:
            for entry in group:  # cancelled (the service stops): nobody is answered
                entry.future.cancel()
            raise
        for entry, outcome in zip(group, outcomes, strict=True):
            if not entry.future.done():
                entry.future.set_result(outcome)


def _sharded(key: str, shard: int) -> str:
    return f"{key}#{shard}"

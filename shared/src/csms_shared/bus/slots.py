"""Handler slots shared by two kinds of work, decisions first.

A service's handlers hold a DB connection each, so the pool bounds them (`handler_slots`). The
decisions' lane (`ocpp.decisions`: Boot, Authorize, a transaction's start or end) and the bulk
(notifications, events) take slots from one `Slots`:

- a freed slot goes to a waiting decision before any waiting bulk work;
- `reserve` slots are never taken by bulk work, so a decision that comes while the bulk holds
  everything else starts at once instead of behind a group commit.

Bulk work keeps every other slot while no decision waits: a burst of MeterValues is stored as
fast as before, and a session start goes past it (docs/ARCHITECTURE.md, "Decisions first").

Slots are not the whole story: decisions and bulk share one event loop. A group of 100 bulk
calls is tens of milliseconds of CPU between two awaits, and a decision whose database answer
came meanwhile waits that long at each of its statements. Bulk loops over a group's items
`breathe`: every BREATH items they let the loop run whatever is ready.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

# Items of a bulk group handled between two turns of the event loop (`breathe`).
BREATH = 8


async def breathe(index: int) -> None:
    """In a loop over a bulk group's items, at item `index`: every BREATH items, let the event
    loop run what is ready (a decision's statement whose answer came) before going on."""
    if index % BREATH == BREATH - 1:
        await asyncio.sleep(0)


class Slots:
    """`total` slots; `first` and `rest` are the two kinds' views (async context managers)."""

    def __init__(self, total: int, *, reserve: int) -> None:
        if total < 1 or not 0 <= reserve < total:
            raise ValueError(f"{total} slots cannot keep {reserve} for decisions")
        self.total = total
        self.reserve = reserve
        self.free = total
        self._first: deque[asyncio.Future[None]] = deque()
        self._rest: deque[asyncio.Future[None]] = deque()
        self.first = _Kind(self, first=True)
        self.rest = _Kind(self, first=False)

    def waiting(self) -> tuple[int, int]:
        """How many decisions and how many bulk turns wait for a slot."""
        return len(self._first), len(self._rest)

    def _may_take(self, first: bool) -> bool:
        return self.free > 0 if first else self.free > self.reserve and not self._first

    async def acquire(self, *, first: bool) -> None:
        """Take a slot; wait (in order within the kind) until one is free to this kind."""
        queue = self._first if first else self._rest
        if not queue and self._may_take(first):
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot as it was cancelled: pass it on
            else:
                queue.remove(future)
            raise

    def release(self) -> None:
        """Give a slot back: to the oldest waiting decision, else to the oldest bulk turn."""
        self.free += 1
        self._wake()

    def _wake(self) -> None:
        for first, queue in ((True, self._first), (False, self._rest)):
            while queue and self._may_take(first):
                future = queue.popleft()
                if not future.done():
                    self.free -= 1
                    future.set_result(None)


class _Kind:
    """`async with slots.first:` / `async with slots.rest:`."""

    def __init__(self, slots: Slots, *, first: bool) -> None:
        self._slots = slots
        self._first = first

    async def __aenter__(self) -> None:
        await self._slots.acquire(first=self._first)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()

"""Arrivals: a call that ends a transaction is handled after the bulk data delivered before it.

The bulk lane (`ocpp.calls`) handles its deliveries side by side: two groups of one key at once
(`coalesce.GROUP_LANES`), other keys beside them, and a notification lingers for its group while
a call someone waits on does not. A transaction's end (1.6 StopTransaction, a 2.0.1
TransactionEvent Ended) comes request/reply on this lane, behind its station's bulk data,
because it is computed from that data: the totalCost a 2.0.1 station is told, the parking time
in it. Queue order alone does not keep it there: the Ended could commit while the Updated
delivered before it was still lingering or being stored in the other lane (seen in CI: a station
told its cost without the parking time).

So each notification delivery of the lane is open, for each station it holds calls of, from its
arrival until it was handled; a call someone waits on takes, as it arrives, its stations' open
ones and waits for them before it is handled. Both happen before any await, and deliveries
start in the order the broker sent them. It holds no lane or slot while it waits, so they never
wait for it; it waits for no other station's data, and calls that wait do not wait for each
other (two transactions' ends are independent) and still share a group. Once its data is
stored it is handled as a decision (the decisions' groups and slots), not behind the bulk that
came after it. This orders one process's deliveries; across replicas see docs/ARCHITECTURE.md,
"Decisions first".
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection


class Arrivals:
    """A lane's notification deliveries not yet handled, by station."""

    def __init__(self) -> None:
        self._open: dict[str, set[asyncio.Future[None]]] = {}

    def __len__(self) -> int:
        """How many stations have notifications not yet handled."""
        return len(self._open)

    def arrive(self, stations: Collection[str]) -> Arrival:
        """A notification delivery of these stations came (call it before any await, in
        delivery order)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for station in stations:
            self._open.setdefault(station, set()).add(future)
        return Arrival(self, stations, future)

    def so_far(self, stations: Collection[str]) -> Earlier:
        """What a call of these stations arriving now must wait for (call it before any
        await)."""
        return Earlier([f for station in stations for f in self._open.get(station, ())])

    def close(self, stations: Collection[str], future: asyncio.Future[None]) -> None:
        """A notification delivery of these stations was handled."""
        for station in stations:
            open_ = self._open.get(station)
            if open_ is not None:
                open_.discard(future)
                if not open_:
                    del self._open[station]
        if not future.done():
            future.set_result(None)


class Arrival:
    """One notification delivery, open until handled; `with` it to close it however its
    handling ends."""

    def __init__(
        self, arrivals: Arrivals, stations: Collection[str], future: asyncio.Future[None]
    ) -> None:
        self._arrivals = arrivals
        self._stations = stations
        self._future = future

    def handled(self) -> None:
        """Its calls were handled: calls that came after it may go on. A failed one goes back
        to its queue and is stored later, after an end that waited for it (its stored total is
        folded again then; what the station was told is not)."""
        if not self._future.done():
            self._arrivals.close(self._stations, self._future)

    def __enter__(self) -> Arrival:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handled()


class Earlier:
    """The notification deliveries that came before a call and were open then."""

    def __init__(self, futures: list[asyncio.Future[None]]) -> None:
        self._futures = futures

    def __bool__(self) -> bool:
        return any(not future.done() for future in self._futures)

    async def handled(self) -> None:
        """Wait until each of them was handled."""
        waiting = [future for future in self._futures if not future.done()]
        if waiting:
            await asyncio.wait(waiting)

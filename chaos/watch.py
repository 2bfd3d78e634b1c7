"""What the CPs lived through during a broker fault: disconnects and how long, late answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.cp import SimChargePoint
from bench.fleet import SimFleet

LATE_SECONDS = 2.0  # a CALLRESULT later than this counts as late (normal answers take ms)


@dataclass(slots=True)
class Outage:
    """One CP's time without a connection."""

    cp_id: str
    began: float
    ended: float | None = None

    def seconds(self, now: float) -> float:
        """How long it lasted (so far)."""
        return (self.ended if self.ended is not None else now) - self.began


@dataclass(slots=True)
class CpWatch:
    """Every CP's disconnects (from its close callback to its next open socket)."""

    fleet: SimFleet
    outages: list[Outage] = field(default_factory=list)
    _open: dict[str, Outage] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Wrap each CP's close callback; poll for reconnects every 0.1 s."""
        for cp in self.fleet.cps:
            cp.on_close = self._closed_then(cp.on_close)
        self._task = asyncio.create_task(self._poll(), name="cp-watch")

    def _closed_then(
        self, then: Callable[[SimChargePoint], None] | None
    ) -> Callable[[SimChargePoint], None]:
        def closed(cp: SimChargePoint) -> None:
            if cp.cp_id not in self._open:
                outage = Outage(cp.cp_id, time.monotonic())
                self._open[cp.cp_id] = outage
                self.outages.append(outage)
            if then is not None:
                then(cp)

        return closed

    async def _poll(self) -> None:
        by_id = {cp.cp_id: cp for cp in self.fleet.cps}
        while True:
            now = time.monotonic()
            for cp_id in [i for i in self._open if by_id[i].connected]:
                self._open.pop(cp_id).ended = now
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def since(self, began: float) -> tuple[int, float]:
        """(CPs disconnected since `began`, the longest of their outages in seconds)."""
        now = time.monotonic()
        hit = [o for o in self.outages if o.began >= began]
        return len({o.cp_id for o in hit}), max((o.seconds(now) for o in hit), default=0.0)


def latency_marks(fleet: SimFleet) -> dict[str, int]:
    """How many answers each action has had so far."""
    return {action: len(seen) for action, seen in fleet.stats.latencies.items()}


def late_since(fleet: SimFleet, marks: dict[str, int]) -> tuple[int, int, float]:
    """(answers since `marks`, those later than LATE_SECONDS, the slowest in seconds)."""
    answered = late = 0
    slowest = 0.0
    for action, seen in fleet.stats.latencies.items():
        new = seen[marks.get(action, 0) :]
        answered += len(new)
        late += sum(1 for s in new if s > LATE_SECONDS)
        slowest = max(slowest, max(new, default=0.0))
    return answered, late, slowest

"""Notification bundles are paced: a lone CALL leaves at once, a busy action once per wait."""

from __future__ import annotations

import asyncio
from typing import Any

from ws_gateway.gather import Gatherer, Waiting

WAIT = 0.2  # long beside a loop turn: a busy test machine cannot blur the two


class Recorder:
    """A `send` that notes when each bundle left and how many CALLs it carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, int]] = []

    async def send(self, action: str, waiting: list[Waiting]) -> None:
        self.sent.append((asyncio.get_running_loop().time(), action, len(waiting)))
        for item in waiting:
            item.future.set_result(None)


def call(n: int) -> tuple[Waiting, asyncio.Future[Any]]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    return Waiting("CP-1", f"m{n}", "2026-01-01T00:00:00+00:00", {}, future), future


async def test_a_call_after_a_quiet_spell_leaves_on_the_next_turn() -> None:
    recorder = Recorder()
    gatherer = Gatherer("notification", recorder.send, wait=WAIT)
    loop = asyncio.get_running_loop()
    item, future = call(1)
    added = loop.time()
    gatherer.add("MeterValues", item)
    await asyncio.wait_for(future, 1)
    assert len(recorder.sent) == 1
    assert recorder.sent[0][0] - added < WAIT / 2


async def test_calls_soon_after_a_bundle_wait_and_leave_together() -> None:
    recorder = Recorder()
    gatherer = Gatherer("notification", recorder.send, wait=WAIT)
    first, first_done = call(0)
    gatherer.add("MeterValues", first)
    await first_done
    items = [call(n) for n in range(1, 6)]
    for item, _ in items:
        gatherer.add("MeterValues", item)
        await asyncio.sleep(0.002)
    await asyncio.gather(*(future for _, future in items))
    assert [count for _, _, count in recorder.sent] == [1, 5]
    gap = recorder.sent[1][0] - recorder.sent[0][0]
    assert gap >= WAIT * 0.9
    # Another action keeps its own pace: it is not held behind MeterValues.
    other, other_done = call(9)
    started = asyncio.get_running_loop().time()
    gatherer.add("StatusNotification", other)
    await other_done
    assert recorder.sent[-1][1:] == ("StatusNotification", 1)
    assert recorder.sent[-1][0] - started < WAIT / 2


async def test_without_a_wait_only_the_same_turn_is_gathered() -> None:
    recorder = Recorder()
    gatherer = Gatherer("notification", recorder.send)
    a, a_done = call(1)
    b, b_done = call(2)
    gatherer.add("MeterValues", a)
    gatherer.add("MeterValues", b)
    await asyncio.gather(a_done, b_done)
    c, c_done = call(3)
    gatherer.add("MeterValues", c)
    await c_done
    assert [count for _, _, count in recorder.sent] == [2, 1]

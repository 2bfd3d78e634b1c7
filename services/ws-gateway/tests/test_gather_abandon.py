"""Failing the calls of a key nobody can take (Gatherer.abandon): queued and out alike, and the
bundles out free their in-flight places at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ws_gateway.gather import Gatherer, Waiting


class Gone(Exception):
    pass


class Hanging:
    """A `send` whose owner never answers: each bundle waits until cancelled."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.cancelled = 0
        self.answer = False
        self.left = asyncio.Event()  # a bundle left (cleared by whoever waits for it)
        self.stopped = asyncio.Event()  # a hung bundle was cancelled

    async def out(self) -> None:
        await asyncio.wait_for(self.left.wait(), 5)
        self.left.clear()

    async def send(self, key: str, waiting: list[Waiting]) -> None:
        self.sent.append(len(waiting))
        self.left.set()
        if self.answer:
            for item in waiting:
                item.future.set_result("answered")
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            self.stopped.set()
            raise


def call(n: int) -> tuple[Waiting, asyncio.Future[Any]]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    return Waiting("CP-1", f"m{n}", "2026-01-01T00:00:00+00:00", {}, future, timeout=30), future


async def settled(futures: list[asyncio.Future[Any]]) -> None:
    await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5)


async def test_calls_out_and_queued_fail_at_once_and_the_gate_opens() -> None:
    owner = Hanging()
    gatherer = Gatherer("request", owner.send, in_flight=1)
    first, first_future = call(1)
    gatherer.add("v16.Authorize", first)
    await owner.out()  # the first bundle leaves and hangs
    queued = [call(n) for n in range(2, 5)]
    for item, _ in queued:
        gatherer.add("v16.Authorize", item)
    assert owner.sent == [1]
    assert gatherer.pending() == ["v16.Authorize"]

    failed = gatherer.abandon("v16.Authorize", Gone())
    assert failed == 4
    futures = [first_future] + [f for _, f in queued]
    await settled(futures)
    for future in futures:
        with pytest.raises(Gone):
            future.result()
    await asyncio.wait_for(owner.stopped.wait(), 5)
    for _ in range(100):  # the task's done-callback runs a turn or so later
        if not gatherer.pending():
            break
        await asyncio.sleep(0)
    assert owner.cancelled == 1
    assert gatherer.pending() == []

    # The in-flight place is free: the next call leaves at once, not behind the hung bundle.
    owner.answer = True
    item, future = call(5)
    gatherer.add("v16.Authorize", item)
    assert await asyncio.wait_for(future, 5) == "answered"
    assert owner.sent == [1, 1]


async def test_a_bundle_failed_before_it_ran_still_frees_its_place() -> None:
    owner = Hanging()
    gatherer = Gatherer("request", owner.send, in_flight=1)
    item, future = call(1)
    gatherer.add("v16.BootNotification", item)
    gatherer.abandon("v16.BootNotification", Gone())  # its task has not run yet
    with pytest.raises(Gone):
        await asyncio.wait_for(future, 5)
    owner.answer = True
    item, future = call(2)
    gatherer.add("v16.BootNotification", item)
    assert await asyncio.wait_for(future, 5) == "answered"


async def test_other_keys_are_not_touched() -> None:
    owner = Hanging()
    gatherer = Gatherer("request", owner.send, in_flight=1)
    mine, mine_future = call(1)
    other, other_future = call(2)
    gatherer.add("v16.Authorize", mine)
    gatherer.add("v201.Authorize", other)
    await owner.out()
    assert gatherer.abandon("v16.Authorize", Gone()) == 1
    with pytest.raises(Gone):
        await asyncio.wait_for(mine_future, 5)
    assert not other_future.done()
    for _ in range(100):  # a cancelled bundle leaves `pending` once its task has ended
        if gatherer.pending() == ["v201.Authorize"]:
            break
        await asyncio.sleep(0)
    assert gatherer.pending() == ["v201.Authorize"]
    assert gatherer.abandon("v201.Authorize", Gone()) == 1
    with pytest.raises(Gone):
        await asyncio.wait_for(other_future, 5)


async def test_a_call_whose_cp_went_away_is_not_counted() -> None:
    owner = Hanging()
    gatherer = Gatherer("request", owner.send, in_flight=1)
    first, _ = call(1)
    gatherer.add("v16.Authorize", first)
    await owner.out()
    gone, gone_future = call(2)
    gatherer.add("v16.Authorize", gone)
    gone_future.cancel()
    assert gatherer.abandon("v16.Authorize", Gone()) == 1

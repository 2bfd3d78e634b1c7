"""A stop waits for its cancelled loops a bounded time: one that will not end is named in the
log and left, so the rest of the stop (the broker's goodbye) still happens before SIGKILL."""

from __future__ import annotations

import asyncio
import logging

import pytest

from csms_shared.stopping import STEP_FLOOR, STOP_WAIT, StopBudget, bounded, cancel_and_wait


async def test_cancelled_loops_end_and_the_stop_goes_on() -> None:
    ended: list[str] = []

    async def loop(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(name)

    tasks = [asyncio.create_task(loop(f"loop-{n}"), name=f"loop-{n}") for n in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait(tasks, timeout=5)
    assert sorted(ended) == ["loop-0", "loop-1", "loop-2"]
    assert all(task.cancelled() for task in tasks)


async def test_a_loop_that_swallows_its_cancellation_is_named_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # swallowed, as asyncio.wait_for on 3.11 may do once in a while
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn(), name="stubborn-loop")
    quick = asyncio.create_task(asyncio.sleep(3600), name="quick-loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="csms_shared.stopping"):
        await cancel_and_wait([task, quick], timeout=0.2)
    assert quick.cancelled() and not task.done()
    assert [r.getMessage() for r in caplog.records] == [
        "stubborn-loop did not stop within 0.2 s of its cancellation; stopping without it"
    ]
    task.cancel()  # a second cancellation ends it
    await asyncio.wait([task])


async def test_nothing_to_stop_returns_at_once() -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await cancel_and_wait([done])
    await cancel_and_wait([])


async def test_a_bounded_step_that_ends_says_so() -> None:
    done: list[str] = []

    async def goodbye() -> None:
        done.append("said")

    assert await bounded(goodbye(), "goodbye", timeout=5) is True
    assert done == ["said"]


async def test_a_bounded_step_that_hangs_or_fails_is_named_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()  # a publish waiting for a broker that never comes back

    async def fails() -> None:
        raise ConnectionError("broker gone")

    with caplog.at_level(logging.WARNING, logger="csms_shared.stopping"):
        assert await bounded(hangs(), "the last publish", timeout=0.1) is False
        assert await bounded(fails(), "the close", timeout=5) is False
    assert [r.getMessage() for r in caplog.records] == [
        "the last publish did not end within 0.1 s; stopping without it",
        "the close failed while stopping: ConnectionError('broker gone')",
    ]


async def test_the_steps_of_one_stop_share_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    """A broker and a database both silent: the first step that hangs spends the budget, the
    ones after it get the floor each, so the whole stop stays within the budget plus a floor a
    step (five steps of their own bound took a gateway past its grace)."""
    said: list[str] = []

    async def hangs() -> None:
        await asyncio.Event().wait()

    async def closes() -> None:
        await asyncio.sleep(0)
        said.append("closed")

    loop = asyncio.create_task(asyncio.Event().wait(), name="beat-loop")
    stop = StopBudget(0.6)
    with caplog.at_level(logging.WARNING, logger="csms_shared.stopping"):
        assert await stop.step(hangs(), "the goodbye") is False
        assert stop.left() == STEP_FLOOR
        assert await stop.step(hangs(), "the broker connection's close") is False
        await stop.cancel([loop])
        # Spent, the budget still lets a step that answers end.
        assert await stop.step(closes(), "the database pool's close") is True
    assert loop.cancelled() and said == ["closed"]
    assert [r.getMessage() for r in caplog.records] == [
        "the goodbye did not end within 0.6 s; stopping without it",
        "the broker connection's close did not end within 0.25 s; stopping without it",
    ]


def test_one_step_gets_no_more_than_it_did_alone() -> None:
    """A budget larger than one step's bound: one step that hangs costs `STOP_WAIT`, as it did
    bounded alone, and leaves the rest to the steps after it."""
    assert StopBudget(60).left() == STOP_WAIT
    assert StopBudget(STOP_WAIT / 2).left() <= STOP_WAIT / 2

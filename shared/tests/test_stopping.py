"""A stop waits for its cancelled loops a bounded time: one that will not end is named in the
log and left, so the rest of the stop (the broker's goodbye) still happens before SIGKILL."""

from __future__ import annotations

import asyncio
import logging

import pytest

from csms_shared.stopping import bounded, cancel_and_wait


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

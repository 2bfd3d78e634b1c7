"""Handler slots shared by decisions and bulk work (bus/slots.py): decisions first."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms_shared.bus.slots import Slots

from .fakes import until


async def test_bulk_work_never_takes_the_slot_kept_for_decisions() -> None:
    slots = Slots(3, reserve=1)
    await slots.acquire(first=False)
    await slots.acquire(first=False)
    bulk = asyncio.create_task(slots.acquire(first=False))
    await until(lambda: slots.waiting() == (0, 1))
    await asyncio.wait_for(slots.acquire(first=True), 1)  # the kept slot: at once
    assert slots.free == 0 and not bulk.done()
    slots.release()  # the decision is done: the slot is kept again, not handed to the bulk
    assert slots.free == 1 and slots.waiting() == (0, 1)
    slots.release()  # a bulk turn is done: the waiting one takes its slot
    await asyncio.wait_for(bulk, 1)
    assert slots.free == 1


async def test_a_freed_slot_goes_to_a_waiting_decision_before_waiting_bulk_work() -> None:
    slots = Slots(2, reserve=1)
    await slots.acquire(first=False)
    await slots.acquire(first=True)
    order: list[str] = []

    async def take(name: str, first: bool) -> None:
        await slots.acquire(first=first)
        order.append(name)

    bulk = asyncio.create_task(take("bulk", False))
    await until(lambda: slots.waiting() == (0, 1))
    decision = asyncio.create_task(take("decision", True))
    await until(lambda: slots.waiting() == (1, 1))
    slots.release()
    await asyncio.wait_for(decision, 1)
    assert order == ["decision"] and not bulk.done()
    slots.release()
    slots.release()
    await asyncio.wait_for(bulk, 1)
    assert order == ["decision", "bulk"]


async def test_a_waiter_cancelled_gives_up_its_place_and_leaks_no_slot() -> None:
    slots = Slots(2, reserve=1)
    await slots.acquire(first=False)
    await slots.acquire(first=True)
    waiting = asyncio.create_task(slots.acquire(first=True))
    await until(lambda: slots.waiting() == (1, 0))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert slots.waiting() == (0, 0)
    slots.release()
    slots.release()
    assert slots.free == 2


async def test_the_views_are_async_context_managers() -> None:
    slots = Slots(2, reserve=1)
    async with slots.rest, slots.first:
        assert slots.free == 0
    assert slots.free == 2


def test_a_reserve_as_large_as_the_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot keep"):
        Slots(1, reserve=1)


@given(
    st.integers(min_value=2, max_value=6),
    st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40),
)
def test_slots_never_exceed_the_total_and_bulk_never_the_unreserved(
    total: int, steps: list[tuple[bool, bool]]
) -> None:
    """Random takes (decision or bulk) and releases: the bounds hold at every step."""

    async def run() -> None:
        slots = Slots(total, reserve=1)
        held: list[tuple[bool, asyncio.Task[None]]] = []
        for first, take in steps:
            if take or not held:
                held.append((first, asyncio.create_task(slots.acquire(first=first))))
            else:
                done = [pair for pair in held if pair[1].done()]
                if done:
                    held.remove(done[0])
                    slots.release()
            for _ in range(3):
                await asyncio.sleep(0)
            running = [first for first, task in held if task.done()]
            assert len(running) <= total
            assert running.count(False) <= total - 1
            assert slots.free == total - len(running)
        for _, task in held:
            task.cancel()
        await asyncio.gather(*(task for _, task in held), return_exceptions=True)

    asyncio.run(run())

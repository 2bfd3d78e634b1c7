"""Handshake slots: a storm past the bound waits its turn; the refused are spread over the time
the gateway needs to let in its backlog."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ws_gateway.slots import WINDOW_SECONDS, HandshakeSlots, retry_after, spread


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the event loop run until `condition` holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0)


@given(
    backlog=st.integers(0, 100_000),
    rate=st.floats(0, 10_000, allow_nan=False),
    shortest=st.floats(0, 60, allow_nan=False),
    extra=st.floats(0, 600, allow_nan=False),
)
def test_the_spread_is_the_time_to_admit_the_backlog_within_its_bounds(
    backlog: int, rate: float, shortest: float, extra: float
) -> None:
    longest = shortest + extra
    window = spread(backlog, rate, shortest, longest)
    assert shortest <= window <= longest
    if rate > 0 and shortest <= backlog / rate <= longest:
        assert window == backlog / rate
    if rate == 0:
        assert window == longest  # nothing is being admitted: the longest wait
    # More backlog never means an earlier return.
    assert spread(backlog + 1, rate, shortest, longest) >= window


@given(window=st.floats(0, 1000, allow_nan=False), seed=st.integers(0, 2**32))
def test_a_retry_after_is_a_whole_second_from_1_to_1_plus_the_window(
    window: float, seed: int
) -> None:
    seconds = retry_after(window, random.Random(seed))
    assert isinstance(seconds, int)
    assert 1 <= seconds <= 1 + window + 1  # the window is rounded up to whole seconds


def test_retry_afters_of_one_moment_are_spread_evenly_over_the_window() -> None:
    rng = random.Random(7)
    seen = [retry_after(30, rng) for _ in range(31_000)]
    counts = [seen.count(second) for second in range(1, 32)]
    # 31 seconds, about 1,000 each: none gets much more than its share.
    assert min(counts) > 850 and max(counts) < 1150


async def test_within_the_limit_a_slot_is_taken_at_once() -> None:
    slots = HandshakeSlots(limit=2, max_waiting=0, wait=0)
    assert await slots.acquire() and await slots.acquire()
    assert slots.busy == 2
    assert not await slots.acquire()  # no waiting allowed
    slots.release()
    assert slots.busy == 1


async def test_past_the_limit_handshakes_wait_their_turn_in_order() -> None:
    slots = HandshakeSlots(limit=1, max_waiting=10, wait=30, least_rate=1)
    assert await slots.acquire()
    order: list[int] = []

    async def take(n: int) -> None:
        assert await slots.acquire()
        order.append(n)

    waiting = [asyncio.create_task(take(n)) for n in range(3)]
    await until(lambda: slots.waiting == 3)
    for n in range(3):
        slots.release()
        await waiting[n]
    assert order == [0, 1, 2]
    assert slots.busy == 1 and slots.waiting == 0
    slots.release()
    assert slots.busy == 0


async def test_a_wait_is_bounded_and_the_queue_too() -> None:
    slots = HandshakeSlots(limit=1, max_waiting=1, wait=0.05, least_rate=100)
    assert await slots.acquire()
    waited = asyncio.create_task(slots.acquire())
    await until(lambda: slots.waiting == 1)
    # The queue is full: refused at once.
    assert not await slots.acquire()
    # No slot freed within the wait: refused, and it leaves the queue.
    assert not await waited
    assert slots.waiting == 0 and slots.busy == 1
    slots.release()
    assert slots.busy == 0


async def test_a_slot_handed_to_a_handshake_that_is_gone_passes_on() -> None:
    slots = HandshakeSlots(limit=1, max_waiting=10, wait=30, least_rate=1)
    assert await slots.acquire()
    gone = asyncio.create_task(slots.acquire())
    kept = asyncio.create_task(slots.acquire())
    await until(lambda: slots.waiting == 2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert slots.waiting == 1
    slots.release()
    assert await kept
    assert slots.busy == 1 and slots.waiting == 0


async def test_refused_handshakes_are_spread_over_the_time_the_backlog_takes() -> None:
    clock = Clock()
    slots = HandshakeSlots(limit=100, max_waiting=0, wait=0, shortest=2, longest=600, clock=clock)
    # Nothing admitted lately: the longest spread.
    assert slots.window() == 600
    # 500 admissions in the last window: 100 a second.
    for _ in range(500):
        assert await slots.acquire()
        slots.release()
    clock.now += WINDOW_SECONDS
    assert slots.rate() == 100
    assert slots.window() == 2  # nothing held: the shortest
    for _ in range(100):
        assert await slots.acquire()
    assert slots.window() == 2  # 100 held at 100 a second: a second, below the shortest
    answers = [slots.refused() for _ in range(900)]
    # 100 held and 900 refused at 100 a second: 10 s.
    assert slots.window() == 10
    assert all(1 <= seconds <= 11 for seconds in answers)
    assert max(answers) > 8  # the later ones are spread further as the refusals add up
    # The window's admissions and refusals age out.
    clock.now += WINDOW_SECONDS + 1
    assert slots.window() == 600  # nothing admitted lately again


async def test_a_registry_that_answers_nothing_still_frees_every_slot_within_its_timeout() -> None:
    # 100 slots, each given back within 8 s: at least 12.5 admissions a second.
    slots = HandshakeSlots(limit=100, max_waiting=0, wait=0, longest=600, least_rate=100 / 8)
    for _ in range(100):
        assert await slots.acquire()
    for _ in range(150):
        slots.refused()
    assert slots.window() == 250 / 12.5


async def test_a_storm_waits_its_turn_though_admissions_have_been_ending_slowly() -> None:
    clock = Clock()
    # A slot freed once a second lately and a wait of 2 s: at that rate two would get their turn
    # in time. All ten wait, and all get it when admissions speed up (a storm's handshakes have
    # all arrived and the gateway turns to admitting them).
    slots = HandshakeSlots(limit=1, max_waiting=10, wait=2, least_rate=1, clock=clock)
    assert await slots.acquire()
    waiting = [asyncio.create_task(slots.acquire()) for _ in range(10)]
    await until(lambda: slots.waiting == 10)
    assert slots.rate() == 1
    # The queue is full: the next is refused at once.
    assert not await slots.acquire()
    for _ in range(10):
        slots.release()
    assert all([await task for task in waiting])
    assert slots.busy == 1 and slots.waiting == 0

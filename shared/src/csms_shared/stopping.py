"""Stopping a process's loops without letting one of them hold the stop up."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable

log = logging.getLogger(__name__)

# How long a stop waits for cancelled loops to end: well inside the 20-30 s an orchestrator
# gives between SIGTERM and SIGKILL, so what follows (the broker's goodbye, the pool's
# close) still happens.
STOP_WAIT = 5.0

# What all the steps of one stop that need the broker or the database share (`StopBudget`),
# each still at most `STOP_WAIT`: bounding each step alone let a process whose steps all hang
# take five or six bounds in a row, past the orchestrator's grace (a gateway 47 s against 45,
# command-api 35 against 30, by their bounds). Spent, a step still gets `STEP_FLOOR`: a pool's
# close is not skipped because the broker before it was silent.
STOP_BUDGET = 10.0
STEP_FLOOR = 0.25


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[object]], timeout: float = STOP_WAIT
) -> None:
    """Cancel the tasks and wait for them to end, at most `timeout` seconds; one that has not
    ended by then (it swallowed its cancellation, or its cleanup hangs) is named in the log
    and left behind."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=timeout)
    for task in late:
        log.warning(
            "%s did not stop within %.2g s of its cancellation; stopping without it",
            task.get_name(),
            timeout,
        )
    for task in pending:
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("%s ended with %r while stopping", task.get_name(), exc)


async def bounded(step: Awaitable[object], what: str, timeout: float = STOP_WAIT) -> bool:
    """Run one step of a stop (a last publish, a connection's close) for at most `timeout`
    seconds: a broker or database that is gone, or a vhost deleted under the process, must not
    hold the stop until SIGKILL. False, and `what` named in the log, if it did not end in time
    or failed; the stop goes on either way."""
    try:
        async with asyncio.timeout(timeout):
            await step
    except TimeoutError:
        log.warning("%s did not end within %.2g s; stopping without it", what, timeout)
        return False
    except Exception as exc:
        log.warning("%s failed while stopping: %r", what, exc)
        return False
    return True


class StopBudget:
    """One bound for the rest of a stop, from now: each step gets what the earlier ones left,
    at most `STOP_WAIT` and at least `STEP_FLOOR`, so one step that hangs costs what it did
    alone, and a process stops within `seconds` plus a floor per step however many of its steps
    wait on something gone."""

    def __init__(self, seconds: float = STOP_BUDGET) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """What the next step gets."""
        return max(STEP_FLOOR, min(STOP_WAIT, self._end - time.monotonic()))

    async def step(self, step: Awaitable[object], what: str) -> bool:
        """`bounded` within what is left."""
        return await bounded(step, what, self.left())

    async def cancel(self, tasks: Iterable[asyncio.Task[object]]) -> None:
        """`cancel_and_wait` within what is left."""
        await cancel_and_wait(tasks, self.left())

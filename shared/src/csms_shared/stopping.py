"""Stopping a process's loops without letting one of them hold the stop up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable

log = logging.getLogger(__name__)

# How long a stop waits for cancelled loops to end: well inside the 20-30 s an orchestrator
# gives between SIGTERM and SIGKILL, so what follows (the broker's goodbye, the pool's
# close) still happens.
STOP_WAIT = 5.0


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
            "%s did not stop within %g s of its cancellation; stopping without it",
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
        log.warning("%s did not end within %g s; stopping without it", what, timeout)
        return False
    except Exception as exc:
        log.warning("%s failed while stopping: %r", what, exc)
        return False
    return True

"""Stopping a process's loops without letting one of them hold the stop up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

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

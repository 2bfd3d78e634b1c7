"""Ack: a delivery is settled once its calls are committed and answered."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from .bundle import BundleItem
from .delivery import Delivery, is_bundle
from .metrics import HANDLED, LATENCY
from .reply import Outbound, Outcome
from .topology import HEADER_TAKEN

log = logging.getLogger(__name__)

# A notification that failed for a fault of ours goes back to its queue after this pause, so a
# failing database is not hammered by redeliveries.
REQUEUE_DELAY = 0.5
_LATENCY = LATENCY.labels("call")


async def requeue_later(message: Any) -> None:
    """Put a delivery that failed for a fault of ours back on its queue after REQUEUE_DELAY
    (the queue's delivery limit dead-letters it if it keeps failing): the one policy of every
    consumer, the runtime's and command-api's own."""
    await asyncio.sleep(REQUEUE_DELAY)
    await message.nack(requeue=True)


@functools.cache
def _handled(outcome: str) -> Any:
    """The calls' counter of one outcome (a metric's child, looked up once)."""
    return HANDLED.labels("call", outcome)


async def acknowledge(
    outbound: Outbound,
    message: Delivery,
    items: list[BundleItem],
    outcomes: list[Outcome],
    started: float,
) -> None:
    """Ack the delivery; a notification that failed for a fault of ours is never dropped.

    The CP already saw a notification acknowledged, so a failure goes back to the queue, whose
    delivery limit dead-letters it if it keeps failing. A failed item of a bundle is published
    again on its own (confirmed) and the bundle acked, so the others are not handled twice; if
    that publish fails, the whole bundle goes back instead. A call with a reply was answered
    (its CALLERROR too) and is acked, unless the gateway took it (`HEADER_TAKEN`: a
    transaction's end its station may have been answered without this reply), which fails as
    a notification does."""
    answered = bool(message.reply_to) and not (message.headers or {}).get(HEADER_TAKEN)
    failed = [] if answered else [n for n, o in enumerate(outcomes) if o.failed]
    elapsed = time.perf_counter() - started
    for n, outcome in enumerate(outcomes):
        _handled("requeued" if n in failed else outcome.label).inc()
        _LATENCY.observe(elapsed)
    if failed:
        if not is_bundle(message):
            await requeue_later(message)
            return
        await asyncio.sleep(REQUEUE_DELAY)
        try:
            for n in failed:
                await outbound.republish(
                    message.routing_key or "", items[n].headers, items[n].payload
                )
        except Exception:
            log.exception("could not publish a failed bundle item alone; requeueing all")
            await message.nack(requeue=True)
            return
    await message.ack()

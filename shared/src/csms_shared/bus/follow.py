"""Events followed in a unit of work: a group of one pattern's events in one transaction."""

from __future__ import annotations

import logging

from ..contracts.events import Event, charge_point_of
from .metrics import GROUP_SIZE, HANDLED
from .router import EventGroupHandler, EventHandler
from .unit_of_work import Transaction, UnitOfWork, by_charge_point

log = logging.getLogger(__name__)


async def follow_events(
    uow: UnitOfWork,
    pattern: str,
    handler: EventHandler,
    together: EventGroupHandler | None,
    group: list[tuple[str, Event]],
) -> list[bool]:
    """Whether each (routing key, event model) of `group` was followed.

    From one transaction, sorted by charge point (`by_charge_point`): all to the pattern's
    group handler if it has one, else one after the other. Each alone if that fails."""
    if len(group) > 1:
        GROUP_SIZE.labels(pattern).observe(len(group))
        bodies = [body for _, body in group]
        order = by_charge_point([{"cp": charge_point_of(body)} for body in bodies], "cp")

        async def run(txn: Transaction) -> None:
            if together is not None:
                await together([bodies[n] for n in order], txn.context())
                return
            for n in order:
                await handler(bodies[n], txn.context())

        try:
            await uow.run("events", run)
        except Exception as exc:
            log.info(
                "a group of %d events failed (%s); handling each alone",
                len(group),
                type(exc).__name__,
            )
            HANDLED.labels("group", "fallback").inc()
        else:
            return [True] * len(group)
    handled = []
    for key, body in group:

        async def alone(txn: Transaction, body: Event = body) -> None:
            await handler(body, txn.context())

        try:
            await uow.run("event", alone)
        except Exception:
            log.exception("event handler failed for %s", key)
            handled.append(False)
        else:
            handled.append(True)
    return handled

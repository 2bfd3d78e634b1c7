"""Events followed in a unit of work: a group of one pattern's events in one transaction."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..contracts.events import Event, charge_point_of
from .metrics import GROUP_SIZE, HANDLED
from .router import EventGroupHandler, EventHandler, Router
from .unit_of_work import Transaction, UnitOfWork, by_charge_point

log = logging.getLogger(__name__)


def topic_regex(pattern: str) -> re.Pattern[str]:
    """A topic pattern (`*` one word, `#` any number) as a regex of the keys it matches."""
    parts = [
        r"[^.]+" if word == "*" else r".*" if word == "#" else re.escape(word)
        for word in pattern.split(".")
    ]
    return re.compile(r"\.".join(parts) + r"\Z")


@dataclass(frozen=True, slots=True)
class EventRoute:
    """A followed pattern: the keys it matches, its handler of one event and of a group."""

    regex: re.Pattern[str]
    pattern: str
    handler: EventHandler
    together: EventGroupHandler | None


def event_routes(router: Router) -> list[EventRoute]:
    """The patterns `router` follows, in the order they were registered."""
    return [
        EventRoute(topic_regex(p), p, h, router.event_groups.get(p))
        for p, h in router.events.items()
    ]


def route_of(routes: list[EventRoute], key: str) -> EventRoute | None:
    """The first route whose pattern matches the routing key `key` (None: not followed)."""
    return next((route for route in routes if route.regex.match(key)), None)


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

"""Handle: a group of one action's calls run by their handlers inside one unit of work."""

from __future__ import annotations

import logging
import time

from opentelemetry import trace

from .. import tracing
from ..ocpp._base import OcppModel
from ..ocpp.errors import InternalError
from .fast_envelopes import FastCallReply
from .metrics import GROUP_SIZE, HANDLED
from .reply import Outcome, answered, error_outcome
from .router import CallRoute
from .topology import HEADER_DEADLINE
from .unit_of_work import Transaction, UnitOfWork, by_charge_point
from .validate import Call

log = logging.getLogger(__name__)


def past_deadline(call: Call, now_ms: float) -> bool:
    """Whether the gateway gave up on the call (its deadline header, milliseconds since the
    epoch; decision calls only)."""
    deadline = call.headers.get(HEADER_DEADLINE)
    return isinstance(deadline, int) and not isinstance(deadline, bool) and now_ms > deadline


def too_late(action: str) -> Outcome:
    """The outcome of a decision call taken after its deadline: not handled at all.

    The gateway has answered its CP already (InternalError, which the CP retries), so
    handling it now would commit what the CP was told failed; nobody waits for this answer."""
    error = InternalError(f"{action} was taken after its deadline and not handled")
    return Outcome(FastCallReply.refusal(error), "expired")


async def handle_calls(uow: UnitOfWork, route: CallRoute, calls: list[Call]) -> list[Outcome]:
    """The outcome of each call of a group, in the calls' order; calls past their deadline
    are not handled (`too_late`). With traces on, in a span of the first call's trace, linked
    to the others' (their gateway spans)."""
    if not tracing.active():
        return await _handle_calls(uow, route, calls)
    contexts = [
        trace.get_current_span(tracing.extract(call.headers)).get_span_context() for call in calls
    ]
    parent = tracing.extract(calls[0].headers)
    links = [trace.Link(c) for c in contexts[1:] if c.is_valid]
    with tracing.tracer.start_as_current_span(
        f"handle {route.action}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={"ocpp.calls": len(calls)},
    ):
        return await _handle_calls(uow, route, calls)


async def _handle_calls(uow: UnitOfWork, route: CallRoute, calls: list[Call]) -> list[Outcome]:
    now = time.time() * 1000
    if not any(past_deadline(call, now) for call in calls):
        return await handle_group(uow, route, calls)
    live = [n for n, call in enumerate(calls) if not past_deadline(call, now)]
    log.info(
        "%s: %d calls taken after their deadline, not handled",
        route.action,
        len(calls) - len(live),
    )
    handled = await handle_group(uow, route, [calls[n] for n in live]) if live else []
    outcomes = [too_late(route.action)] * len(calls)
    for n, outcome in zip(live, handled, strict=True):
        outcomes[n] = outcome
    return outcomes


async def handle_group(uow: UnitOfWork, route: CallRoute, calls: list[Call]) -> list[Outcome]:
    """The outcome of each call of a group (one commit for the group), in the calls' order.

    The action's one-call handler runs for one call after the other, as if they had come in
    that order; an action with a set-based batch handler hands them all to it. They are handed
    over sorted by charge point (`by_charge_point`). If the group fails (a refused call, a bug),
    nothing of it is committed and every call gets the answer it would have had alone.
    """
    if len(calls) == 1:
        return [await handle_alone(uow, route, calls[0])]
    GROUP_SIZE.labels(route.action).observe(len(calls))
    order = by_charge_point([call.headers for call in calls])
    ordered = [calls[n] for n in order]

    async def together(txn: Transaction) -> list[OcppModel]:
        if route.batch is not None:
            responses = await route.batch(
                [(call.request, txn.call_context(call.headers, route.version)) for call in ordered],
                txn.context(),
            )
            if responses is None:  # notifications: each answer is the empty response
                return [route.response() for _ in ordered]
            if len(responses) != len(ordered):
                raise RuntimeError(f"{route.action} answered {len(responses)} calls")
            return responses
        return [
            await route.handler(call.request, txn.call_context(call.headers, route.version))
            for call in ordered
        ]

    try:
        responses = await uow.run(route.action, together)
    except Exception as exc:
        log.info(
            "a group of %d %s failed (%s); handling each alone",
            len(calls),
            route.action,
            type(exc).__name__,
        )
        HANDLED.labels("group", "fallback").inc()
        return [await handle_alone(uow, route, call) for call in calls]
    outcomes: dict[int, Outcome] = {
        n: answered(response) for n, response in zip(order, responses, strict=True)
    }
    return [outcomes[n] for n in range(len(calls))]


async def handle_alone(uow: UnitOfWork, route: CallRoute, call: Call) -> Outcome:
    """One call in a transaction of its own, by its one-call handler."""
    try:
        response = await uow.run(
            route.action,
            lambda txn: route.handler(call.request, txn.call_context(call.headers, route.version)),
        )
    except Exception as exc:
        return error_outcome(route.action, call.headers, exc)
    return answered(response)

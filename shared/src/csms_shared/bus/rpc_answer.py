"""Answering an RPC delivery: the method found, its caller checked, its params read, run in a
unit of work on the RPC lane, in a server span when traces are on (bus/runtime.py hands the
reply back and acks)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.trace import SpanKind

from .. import tracing
from ..contracts.envelopes import RpcErrorBody, RpcReply
from .access import allowed
from .router import Router
from .rpc import RpcError, read_params
from .unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def answer_rpc(
    router: Router,
    uow: UnitOfWork,
    slots: contextlib.AbstractAsyncContextManager[Any],
    broker_users: dict[str, str],
    message: AbstractIncomingMessage,
) -> RpcReply:
    """The reply to one RPC: its result, or the error (`not_found`, `forbidden`, `invalid`
    params, `internal` for a handler that failed)."""
    method = message.type or ""
    handler = router.rpcs.get(method)
    try:
        if handler is None:
            raise RpcError("not_found", f"{router.service} has no RPC method {method!r}")
        if not allowed(message.user_id, router.rpc_callers[method], broker_users):
            raise RpcError("forbidden", f"{method} does not answer broker user {message.user_id!r}")
        spec = router.rpc_methods[method]
        params = read_params(spec.params, message.body)
        async with slots:
            with _rpc_span(method, message):
                result = await uow.run(method, lambda txn: handler(params, txn.context()))
        return RpcReply(result=spec.encode_result(result))
    except RpcError as exc:
        return RpcReply(error=RpcErrorBody(code=exc.code, message=exc.message))
    except Exception as exc:
        log.exception("rpc %s failed", method)
        return RpcReply(error=RpcErrorBody(code="internal", message=type(exc).__name__))


@contextlib.contextmanager
def _rpc_span(method: str, message: AbstractIncomingMessage) -> Iterator[None]:
    """With traces on, a server span for an RPC's handling, in the caller's trace."""
    if not tracing.active():
        yield
        return
    with tracing.tracer.start_as_current_span(
        f"rpc {method}",
        context=tracing.extract(message.headers),
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "amqp", "rpc.method": method},
    ):
        yield

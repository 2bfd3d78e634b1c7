"""RPC over the default exchange: `<service>.rpc` queues, a private reply queue per client."""

from __future__ import annotations

from typing import Any

import orjson
from aio_pika.abc import HeadersType
from aio_pika.exceptions import DeliveryError
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from .. import tracing
from ..contracts import problems
from ..contracts.envelopes import BadEnvelope, RpcReply
from ..contracts.rpc import RpcMethod, RpcParams
from ..contracts.rpc_base import P, R
from ..ocpp.framing import find_nul
from .client import BusClient, message_properties
from .topology import service_queue


class RpcError(Exception):
    """The remote handler failed; `code` says how (`not_found`, `invalid`, `internal`, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RpcUnavailable(RpcError):
    """No consumer queue for that service exists, or it did not answer in time."""


def read_params(model: type[RpcParams], body: bytes) -> RpcParams:
    """The params of a request, validated against its method's model (raises RpcError)."""
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RpcError("invalid", f"params are not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise RpcError("invalid", "params must be a JSON object")
    if (where := find_nul(params, "params")) is not None:
        # No text column can store U+0000: refuse it here, for every RPC method.
        raise RpcError("invalid", f"{where}: strings may not contain U+0000")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise RpcError("invalid", problems(exc)) from None


def rpc_queue(service: str) -> str:
    """The RPC queue name of a service."""
    return service_queue(service, "rpc")


class RpcClient:
    """Calls `<service>.rpc` methods through a BusClient: the params' model in, the result's
    model out, silence becomes a timeout."""

    def __init__(self, bus: BusClient) -> None:
        self._bus = bus

    async def call(self, method: RpcMethod[P, R], params: P, timeout: float = 5.0) -> R:
        """The result of `method`; raises RpcError (`bad_answer` for an answer that does not
        fit the method's result) or RpcUnavailable. With traces on, in a client span whose
        `traceparent` the service's handling joins."""
        raw = await self.call_raw(method, method.encode_params(params), timeout)
        try:
            return method.decode_result(raw)
        except ValidationError as exc:
            raise RpcError("bad_answer", f"{method.name} answered {problems(exc)}") from None

    async def call_raw(self, method: RpcMethod[Any, Any], body: bytes, timeout: float = 5.0) -> Any:
        """The JSON result of `method` for a body of params as given, not read into the result's
        model (tests of how a service answers params that break its model)."""
        service, name = method.service, method.name
        if not tracing.active():
            return await self._call(service, name, body, None, timeout)
        with tracing.tracer.start_as_current_span(
            f"rpc {service}.{name}",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "amqp", "rpc.service": service, "rpc.method": name},
        ):
            headers: HeadersType = {}
            tracing.inject(headers)
            return await self._call(service, name, body, headers, timeout)

    async def _call(
        self,
        service: str,
        method: str,
        body: bytes,
        headers: HeadersType | None,
        timeout: float,
    ) -> Any:
        properties = message_properties(message_type=method, headers=headers or None)
        try:
            reply = await self._bus.request("", rpc_queue(service), body, properties, timeout)
        except DeliveryError:
            raise RpcUnavailable("unavailable", f"{service} has no RPC queue") from None
        except TimeoutError:
            raise RpcUnavailable("timeout", f"{service}.{method} did not answer") from None
        try:
            answer = RpcReply.decode(reply)
        except BadEnvelope as exc:
            raise RpcError("bad_answer", f"{service}.{method}: {exc}") from None
        if answer.error is not None:
            raise RpcError(answer.error.code, answer.error.message)
        return answer.result

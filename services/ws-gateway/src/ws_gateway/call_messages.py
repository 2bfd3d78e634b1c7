"""What a gateway's CALLs leave as: their routing keys and lanes, the message of one call or a
bundle with its headers, a decision call's deadline, and how its answer is read."""

from __future__ import annotations

import logging
import time

import aiormq
import orjson
from aio_pika.abc import HeadersType

from csms_shared.bus.bundle import encode_bundle_fast
from csms_shared.bus.client import message_properties
from csms_shared.bus.fast_envelopes import FastBundledCall
from csms_shared.bus.topology import (
    CALLS,
    DECISIONS,
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_DEADLINE,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    HEADER_TAKEN,
    TRACEPARENT,
    call_routing_key,
)
from csms_shared.contracts.envelopes import BadEnvelope, BundleReply, CallReply
from csms_shared.ocpp.errors import InternalError
from csms_shared.ocpp.version import OcppVersion

from .gather import Waiting

log = logging.getLogger(__name__)

# Routing keys of the CALLs seen so far (`v16.<Action>`, `v201.<Action>`), built once each.
_ROUTING_KEYS: dict[tuple[str, OcppVersion], str] = {}

# A decision call whose answer is unreadable gets this: the CP retries it.
UNREADABLE = CallReply.refusal(InternalError("The central system's answer was unreadable"))

# Decision calls that end a transaction are gathered under their routing key with this prefix
# and leave on `ocpp.calls`, behind the station's bulk data; the others on `ocpp.decisions`.
IN_ORDER = "~"


def routing_key_of(action: str, version: OcppVersion) -> str:
    """The routing key of a CALL of `action` in `version`."""
    routing_key = _ROUTING_KEYS.get((action, version))
    if routing_key is None:
        routing_key = _ROUTING_KEYS.setdefault((action, version), call_routing_key(action, version))
    return routing_key


def lane(key: str) -> tuple[str, str]:
    """The exchange and routing key of a gathering key: the decisions' lane, never queued
    behind the notifications on `ocpp.calls`, unless the call keeps its place (IN_ORDER)."""
    if key.startswith(IN_ORDER):
        return CALLS.name, key[len(IN_ORDER) :]
    return DECISIONS.name, key


def read_replies(action: str, body: bytes, count: int) -> list[CallReply]:
    """The answer to each of `count` decision calls of one message (a bundle's when `count` >
    1); an unreadable answer is logged and each call gets UNREADABLE."""
    try:
        if count == 1:
            return [CallReply.decode(body)]
        return BundleReply.decode(body).replies(count)
    except BadEnvelope as exc:
        log.error("the answer to %d %s is unreadable (%s): %r", count, action, exc, body[:200])
        return [UNREADABLE] * count


def bundle_body(waiting: list[Waiting]) -> bytes:
    """The body of a bundle of the calls (csms_shared.bus.bundle), in their order."""
    return encode_bundle_fast(
        [
            FastBundledCall(
                cp=w.cp_id, id=w.message_id, at=w.received, payload=w.payload, tp=w.traceparent
            )
            for w in waiting
        ]
    )


def handling_deadline(timeout: float) -> int:
    """When a service must have started on a decision call waited on for `timeout` from now,
    in milliseconds since the epoch (an integer: AMQP tables carry floats in 32 bits).

    A fifth of the wait (at most 5 s) is kept back for the handling, the commit and the reply,
    so a call the service takes is answered before the gateway gives up on it."""
    return int((time.time() + timeout - min(5.0, timeout / 5)) * 1000)


def call_message(
    gateway: str, waiting: list[Waiting], deadline: int | None = None, *, taken: bool = False
) -> tuple[bytes, aiormq.spec.Basic.Properties]:
    """One message for the calls: a lone call as a plain one, several as a bundle.

    The headers the services read (csms_shared.bus.runtime): CP, OCPP message id, gateway,
    receive time (a bundle's items carry theirs), a decision call's deadline, whether it was
    taken (`HEADER_TAKEN`). The action is
    the routing key's; no AMQP timestamp (nobody reads it)."""
    headers: HeadersType = {HEADER_GATEWAY: gateway}
    if deadline is not None:
        headers[HEADER_DEADLINE] = deadline
    if taken:  # a transaction's end, taken once the broker has it (`GatewayBus.take`)
        headers[HEADER_TAKEN] = 1
    if len(waiting) == 1:
        [one] = waiting
        headers[HEADER_CHARGE_POINT] = one.cp_id
        headers[HEADER_MESSAGE_ID] = one.message_id
        headers[HEADER_RECEIVED_AT] = one.received
        if one.traceparent:
            headers[TRACEPARENT] = one.traceparent
        body = orjson.dumps(one.payload)
    else:
        headers[HEADER_BUNDLE] = len(waiting)
        body = bundle_body(waiting)
    return body, message_properties(persistent=True, headers=headers)

"""Bundles: several notifications of one action in one AMQP message.

A gateway under load has many CPs' notifications (MeterValues, StatusNotification, ...) ready in
the same turn of its event loop. Publishing each as a persistent, confirmed message costs the
broker a quorum-queue write, a delivery and an ack apiece; a bundle pays those once for all of
them. The message carries `x-ocpp-bundle: <count>` and the gateway's id in its headers; the body
is a JSON array of items, each what a single message would carry in its headers and body:

    [{"cp": "<charge point id>", "id": "<OCPP message id>", "at": "<received, ISO 8601>",
      "payload": {...}}, ...]

(`csms_shared.contracts.envelopes.BundledCall`, and `BundleReply` for the answer below; written
and read through their msgspec twins in `fast_envelopes`.)

The consumer (csms_shared.bus.runtime) handles every item as if it had come alone and acks the
message once all of them are committed.

Decision calls (BootNotification, Authorize, StartTransaction, ...) are bundled the same way, with
`reply_to` and a `correlation_id` on the message: the owner handles the items in one database
transaction (group commit) and answers once, on the bundle's correlation id, with one reply body
per item in the items' order (what a single call's reply would carry):

    {"items": [{"payload": {...}}, {"error": {"code": ..., "description": ..., ...}}, ...]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from aio_pika.abc import HeadersType
from pydantic import ValidationError

from ..contracts import problems
from ..contracts.envelopes import BUNDLED_CALLS, BundledCall, BundleReply, CallReply
from .fast_envelopes import FastBundledCall, FastCallReply, decode_bundled_calls, write
from .topology import (
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    TRACEPARENT,
)

# A bundle holds at most this many items; a busier turn of the loop publishes several.
BUNDLE_MAX = 100


class BadBundle(ValueError):
    """The body of a message marked as a bundle is not a list of items."""


@dataclass(frozen=True, slots=True)
class BundleItem:
    """One call of a bundle: the AMQP headers a single message would have, and its payload."""

    headers: HeadersType
    payload: Any


def encode_bundle(calls: Sequence[BundledCall]) -> bytes:
    """The body of a bundle of calls."""
    return BUNDLED_CALLS.dump_json(list(calls), by_alias=True, exclude_none=True)


def encode_bundle_fast(calls: list[FastBundledCall]) -> bytes:
    """`encode_bundle` of the calls' models, written by msgspec (the gateways' hot path)."""
    return write(calls, lambda: encode_bundle([call.model() for call in calls]))


def encode_replies(replies: Sequence[CallReply]) -> bytes:
    """The reply to a bundle of decision calls: one single-call reply per item, in order."""
    return BundleReply(items=list(replies)).encode()


def encode_replies_fast(replies: list[FastCallReply]) -> bytes:
    """`encode_replies` of the replies' models, written by msgspec (the services' hot path)."""
    return write({"items": replies}, lambda: encode_replies([r.model() for r in replies]))


def read_calls(body: bytes) -> list[FastBundledCall] | list[BundledCall]:
    """The calls of a bundle's body, read as `BundledCall` reads them (raises BadBundle naming
    what is wrong): by msgspec, and by the model whatever msgspec refuses."""
    try:
        return decode_bundled_calls(body)
    except msgspec.DecodeError:
        pass
    try:
        return BUNDLED_CALLS.validate_json(body)
    except ValidationError as exc:
        raise BadBundle(f"not a bundle of calls: {problems(exc)}") from None


def decode_bundle(body: bytes, gateway: str) -> list[BundleItem]:
    """The items of a bundle, each with single-message headers (raises BadBundle)."""
    calls = read_calls(body)
    if not calls:
        raise BadBundle("a bundle is a non-empty JSON array")
    items = []
    for call in calls:
        headers: HeadersType = {
            HEADER_CHARGE_POINT: call.cp,
            HEADER_MESSAGE_ID: call.id,
            HEADER_GATEWAY: gateway,
            HEADER_RECEIVED_AT: call.at,
        }
        if call.tp is not None:
            headers[TRACEPARENT] = call.tp
        items.append(BundleItem(headers, call.payload))
    return items

"""Bundles: several notifications of one action in one AMQP message.

A gateway under load has many CPs' notifications (MeterValues, StatusNotification, ...) ready in
the same turn of its event loop. Publishing each as a persistent, confirmed message costs the
broker a quorum-queue write, a delivery and an ack apiece; a bundle pays those once for all of
them. The message carries `x-ocpp-bundle: <count>` and the gateway's id in its headers; the body
is a JSON array of items, each what a single message would carry in its headers and body:

    [{"cp": "<charge point id>", "id": "<OCPP message id>", "at": "<received, ISO 8601>",
      "payload": {...}}, ...]

The consumer (csms_shared.bus.runtime) handles every item as if it had come alone and acks the
message once all of them are committed.

Decision calls (BootNotification, Authorize, StartTransaction, ...) are bundled the same way, with
`reply_to` and a `correlation_id` on the message: the owner handles the items in one database
transaction (group commit) and answers once, on the bundle's correlation id, with one reply body
per item in the items' order (what a single call's reply would carry):

    {"items": [{"payload": {...}}, {"error": {"code": ..., "description": ..., ...}}, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

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
    """One notification of a bundle: the headers a single message would have, and its payload."""

    headers: dict[str, Any]
    payload: Any


def encode_bundle(
    items: list[tuple[str, str, str, Any]], traceparents: list[str | None] | None = None
) -> bytes:
    """The body of a bundle of (cp id, OCPP message id, received ISO time, payload) items; with
    traces on, each item carries its call's `traceparent` as `tp`."""
    body = [{"cp": cp, "id": mid, "at": at, "payload": p} for cp, mid, at, p in items]
    for item, tp in zip(body, traceparents or (), strict=False):
        if tp:
            item["tp"] = tp
    return orjson.dumps(body)


def encode_replies(bodies: list[dict[str, Any]]) -> bytes:
    """The reply to a bundle of decision calls: one single-call reply body per item, in order."""
    return orjson.dumps({"items": bodies})


def reply_items(reply: Any, count: int) -> list[dict[str, Any]]:
    """The per-item bodies of a bundle's reply (raises BadBundle unless there are `count`)."""
    items = reply.get("items") if isinstance(reply, dict) else None
    if not isinstance(items, list) or len(items) != count:
        raise BadBundle(f"a reply to a bundle of {count} needs {count} items")
    if not all(isinstance(item, dict) for item in items):
        raise BadBundle("every item of a bundle's reply is a JSON object")
    return items


def decode_bundle(body: bytes, gateway: str) -> list[BundleItem]:
    """The items of a bundle, each with single-message headers (raises BadBundle)."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBundle(f"not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise BadBundle("a bundle is a non-empty JSON array")
    items = []
    for n, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("cp"), str)
            or not isinstance(item.get("id"), str)
            or not isinstance(item.get("at"), str)
            or "payload" not in item
        ):
            raise BadBundle(f"item {n} needs string cp, id and at, and a payload")
        headers = {
            HEADER_CHARGE_POINT: item["cp"],
            HEADER_MESSAGE_ID: item["id"],
            HEADER_GATEWAY: gateway,
            HEADER_RECEIVED_AT: item["at"],
        }
        if isinstance(item.get("tp"), str):
            headers[TRACEPARENT] = item["tp"]
        items.append(BundleItem(headers, item["payload"]))
    return items

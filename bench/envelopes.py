"""CPU per call of the bus envelopes on the MeterValues path, measured alone (no broker, no DB).

    .venv/bin/python -m bench.envelopes [--repeats 7] [--seconds 0.3]

What the suite's processes do per call with the envelopes of issue 33, each through the code
they run: the gateway writes a bundle of 100 MeterValues of about 500 bytes
(`ws_gateway.call_messages.bundle_body`), the session-service reads it (`csms_shared.bus.bundle.
decode_bundle`), makes each call's outcome (`csms_shared.bus.reply.answered`) and, for a decision
call, encodes the reply (alone, or a bundle's 100 through `send_reply`), which the gateway reads
(`ws_gateway.call_messages.read_replies`). Beside each figure, the same work done the way it
was before issue 33 (`1ed338f`: orjson and hand-written checks of dicts), copied here.

Each figure is time.process_time over a loop of about `--seconds`, the best of `--repeats`, per
call; the machine is shared, so the best of several is the least disturbed one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from csms_shared.bus.bundle import decode_bundle
from csms_shared.bus.reply import Outcome, answered, send_reply
from csms_shared.bus.topology import (
    HEADER_BUNDLE,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    TRACEPARENT,
)
from csms_shared.ocpp._base import OcppModel
from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.ocpp.v16.enums import AuthorizationStatus
from csms_shared.ocpp.v16.messages import AuthorizeResponse, MeterValuesResponse
from ws_gateway.call_messages import bundle_body, read_replies
from ws_gateway.gather import Waiting

CALLS = 100  # a bundle's calls (csms_shared.bus.bundle.BUNDLE_MAX)


def meter_values(n: int) -> dict[str, Any]:
    """A MeterValues payload as the bench fleet's CPs send it, with a third sample (~500 bytes)."""
    sample = {"context": "Sample.Periodic", "location": "Outlet", "phase": "L1"}
    return {
        "connectorId": 1,
        "transactionId": 100_000 + n,
        "meterValue": [
            {
                "timestamp": "2026-11-25T12:00:00.123Z",
                "sampledValue": [
                    {
                        "value": str(1_234_567 + n),
                        **sample,
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {"value": "7200", **sample, "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "31.4", **sample, "measurand": "Current.Import", "unit": "A"},
                ],
            }
        ],
    }


def waiting_calls(loop: asyncio.AbstractEventLoop) -> list[Waiting]:
    """A bundle's calls as the gateway holds them."""
    return [
        Waiting(
            f"CP-{n:05d}",
            f"{n}-9f0c6d1e",
            "2026-11-25T12:00:00.123456+00:00",
            meter_values(n),
            loop.create_future(),
        )
        for n in range(CALLS)
    ]


class Replied:
    """Where send_reply publishes (the reply channel), and the delivery it answers."""

    def __init__(self, bundle: bool) -> None:
        self.headers = {HEADER_BUNDLE: CALLS} if bundle else {}
        self.reply_to, self.correlation_id = "gateway.gw-1", "c1"
        self.body = b""

    async def reply(self, to: str, correlation_id: str | None, body: bytes) -> None:
        self.body = body

    def send(self, outcomes: list[Outcome]) -> bytes:
        """The body send_reply publishes (it never suspends here: no loop needed)."""
        with contextlib.suppress(StopIteration):
            send_reply(self, self, outcomes).send(None)  # type: ignore[arg-type]
        return self.body


# -- the way before issue 33 (1ed338f), for scale ---------------------------------------------


@dataclass(frozen=True, slots=True)
class OldOutcome:
    body: dict[str, Any]
    label: str = "ok"


def old_answered(response: OcppModel) -> OldOutcome:
    return OldOutcome({"payload": response.to_payload()})


def old_encode_bundle(waiting: list[Waiting]) -> bytes:
    body = [
        {"cp": w.cp_id, "id": w.message_id, "at": w.received, "payload": w.payload} for w in waiting
    ]
    for item, w in zip(body, waiting, strict=True):
        if w.traceparent:
            item["tp"] = w.traceparent
    return orjson.dumps(body)


def old_decode_bundle(body: bytes, gateway: str) -> list[tuple[dict[str, Any], Any]]:
    raw = orjson.loads(body)
    if not isinstance(raw, list) or not raw:
        raise ValueError("a bundle is a non-empty JSON array")
    items = []
    for n, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("cp"), str)
            or not isinstance(item.get("id"), str)
            or not isinstance(item.get("at"), str)
            or "payload" not in item
        ):
            raise ValueError(f"item {n} needs string cp, id and at, and a payload")
        headers = {
            HEADER_CHARGE_POINT: item["cp"],
            HEADER_MESSAGE_ID: item["id"],
            HEADER_GATEWAY: gateway,
            HEADER_RECEIVED_AT: item["at"],
        }
        if isinstance(item.get("tp"), str):
            headers[TRACEPARENT] = item["tp"]
        items.append((headers, item["payload"]))
    return items


def old_read_replies(body: bytes, count: int) -> list[dict[str, Any]]:
    reply = orjson.loads(body)
    items = reply.get("items") if isinstance(reply, dict) else None
    if not isinstance(items, list) or len(items) != count:
        raise ValueError(f"a reply to a bundle of {count} needs {count} items")
    if not all(isinstance(item, dict) for item in items):
        raise ValueError("every item of a bundle's reply is a JSON object")
    return items


# -- measuring ---------------------------------------------------------------------------------


def per_call(work: Callable[[], object], calls: int, repeats: int, seconds: float) -> float:
    """Microseconds of CPU per call of `work` (which handles `calls` calls), best of `repeats`."""
    loops, start = 0, time.process_time()
    while time.process_time() - start < seconds:  # also the warm-up
        work()
        loops += 1
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        for _ in range(loops):
            work()
        best = min(best, (time.process_time() - start) / loops)
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    waiting = waiting_calls(loop)
    body = bundle_body(waiting)
    assert orjson.loads(body) == orjson.loads(old_encode_bundle(waiting))
    mv, authorize = (
        MeterValuesResponse(),
        AuthorizeResponse(id_tag_info=IdTagInfo(status=AuthorizationStatus.ACCEPTED)),
    )

    alone, bundle = Replied(bundle=False), Replied(bundle=True)
    assert alone.send([answered(authorize)]) == answered(authorize).reply.encode()

    def replies() -> bytes:
        return bundle.send([answered(authorize) for _ in range(CALLS)])

    def old_replies() -> bytes:
        return orjson.dumps({"items": [old_answered(authorize).body for _ in range(CALLS)]})

    replies_body = replies()
    rows: list[tuple[str, Callable[[], object], Callable[[], object] | None, int]] = [
        (
            "decode a bundle (session-service)",
            lambda: decode_bundle(body, "gw-1"),
            lambda: old_decode_bundle(body, "gw-1"),
            CALLS,
        ),
        (
            "encode a bundle (gateway)",
            lambda: bundle_body(waiting),
            lambda: old_encode_bundle(waiting),
            CALLS,
        ),
        (
            "a MeterValues outcome, not sent (notification)",
            lambda: answered(mv),
            lambda: old_answered(mv),
            1,
        ),
        (
            "an Authorize reply alone: outcome + body",
            lambda: answered(authorize).reply.encode(),  # what send_reply publishes of it
            lambda: orjson.dumps(old_answered(authorize).body),
            1,
        ),
        ("a bundle's 100 Authorize replies: outcomes + body", replies, old_replies, CALLS),
        (
            "the gateway reads a bundle's 100 Authorize replies",
            lambda: read_replies("Authorize", replies_body, CALLS),
            lambda: old_read_replies(replies_body, CALLS),
            CALLS,
        ),
        (
            "of these, unchanged: an Authorize response's to_payload()",
            authorize.to_payload,
            None,
            1,
        ),
    ]
    assert orjson.loads(replies()) == orjson.loads(old_replies())
    print(f"bundle: {CALLS} calls, {len(body):,} bytes; best of {args.repeats}, us per call")
    print("| work | now | before issue 33 (`1ed338f` way) |")
    print("|---|---|---|")
    for name, now, before, calls in rows:
        a = per_call(now, calls, args.repeats, args.seconds)
        b = (
            "same"
            if before is None
            else f"{per_call(before, calls, args.repeats, args.seconds):.2f}"
        )
        print(f"| {name} | {a:.2f} | {b} |", flush=True)
    loop.close()


if __name__ == "__main__":
    main()

"""Refused handshakes: counted always, logged a line a second per address, written to a known
CP's message log once per address a minute with a count, never for a made-up id."""

from __future__ import annotations

import logging

import pytest

from csms_shared.bus.message_log import FIELDS, RecordKind
from ws_gateway.message_log import MessageLog
from ws_gateway.refusals import Refusals
from ws_gateway.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def records(log: MessageLog) -> list[dict[str, object]]:
    return [dict(zip(FIELDS, r, strict=True)) for r in log.pending()]


def test_a_known_cp_gets_one_record_a_minute_per_address_with_its_count() -> None:
    log = MessageLog(Settings(), "gw-1")
    clock = Clock()
    refusals = Refusals(log, window=60, clock=clock)
    for _ in range(10):
        refusals.refused("CP-1", True, "10.0.0.1", 401, "wrong AuthorizationKey")
        clock.now += 1
    refusals.refused("CP-1", True, "10.0.0.2", 401, "wrong AuthorizationKey")
    refusals.flush()  # nothing due yet
    payloads = [r["payload"] for r in records(log)]
    assert [(p["address"], p["count"]) for p in payloads] == [("10.0.0.1", 1), ("10.0.0.2", 1)]  # type: ignore[index]
    clock.now += 60
    refusals.flush()
    summary = records(log)[-1]
    assert summary["kind"] == RecordKind.REFUSED and summary["cp"] == "CP-1"
    assert summary["payload"]["count"] == 9 and summary["payload"]["address"] == "10.0.0.1"  # type: ignore[index]
    # The next window opened with the summary: a refusal now is held, not written at once.
    refusals.refused("CP-1", True, "10.0.0.1", 401, "wrong AuthorizationKey")
    assert len(records(log)) == 3
    clock.now += 61
    refusals.flush()
    assert records(log)[-1]["payload"]["count"] == 1  # type: ignore[index]
    clock.now += 61
    refusals.flush()  # a quiet window: the pair is forgotten, its next refusal goes at once
    refusals.refused("CP-1", True, "10.0.0.1", 400, "Sec-WebSocket-Protocol must offer ocpp1.6")
    assert records(log)[-1]["payload"]["count"] == 1  # type: ignore[index]
    assert len(records(log)) == 5


def test_a_made_up_id_writes_no_record_and_one_log_line_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = MessageLog(Settings(), "gw-1")
    clock = Clock()
    refusals = Refusals(log, window=60, clock=clock)
    with caplog.at_level(logging.INFO, "ws_gateway.refusals"):
        for n in range(50):
            refusals.refused(f"FAKE-{n}", False, "203.0.113.9", 404, "unknown charge point id")
        clock.now += 1.5
        refusals.refused("FAKE-X", False, "203.0.113.9", 404, "unknown charge point id")
    assert records(log) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "ws_gateway.refusals"]
    assert len(lines) == 2
    assert "(49 more from this address not logged)" in lines[1]

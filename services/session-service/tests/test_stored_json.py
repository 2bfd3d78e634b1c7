"""Folds and event summaries stored by earlier versions read back as the events they were made
of, and what is written now is what was written then.

stored/tx_event_json_b667fec.json holds the running fold (transactions.event_fold) of the
Started and Updated events below and the Updated's summary (transaction_events.summary) as
b667fec wrote them, before chargingState was kept; stored/tx_event_json_269f319.json those of
all three events as 269f319 wrote them, the last version with hand-written JSON.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from csms_shared.ocpp.v201.messages import TransactionEventRequest
from session_service.tx_events import EventSummary, summarize
from session_service.tx_fold import Fold

STORED = Path(__file__).parent / "stored"


def request(kind: str, seq: int, timestamp: str, **extra: Any) -> TransactionEventRequest:
    return TransactionEventRequest.model_validate(
        {
            "eventType": kind,
            "timestamp": timestamp,
            "triggerReason": extra.pop("trigger", "MeterValuePeriodic"),
            "seqNo": seq,
            "transactionInfo": {"transactionId": "TX-1", **extra.pop("info", {})},
            **extra,
        }
    )


def events() -> list[EventSummary]:
    at = "2026-11-25T08:00:00.250Z"
    started = request(
        "Started",
        0,
        at,
        trigger="Authorized",
        evse={"id": 2, "connectorId": 1},
        idToken={"idToken": "CARD-1", "type": "ISO14443"},
        reservationId=3,
        info={"remoteStartId": 7, "chargingState": "EVConnected"},
        meterValue=[
            {"timestamp": at, "sampledValue": [{"value": 1000.5, "context": "Transaction.Begin"}]}
        ],
    )
    at = "2026-11-25T08:10:00Z"
    updated = request(
        "Updated",
        1,
        at,
        info={"chargingState": "Charging"},
        meterValue=[
            {
                "timestamp": at,
                "sampledValue": [
                    {"value": 4.25, "unitOfMeasure": {"unit": "kWh"}},
                    {"value": 11, "measurand": "Power.Active.Import"},
                ],
            }
        ],
    )
    at = "2026-11-25T08:30:00Z"
    ended = request(
        "Ended",
        2,
        at,
        trigger="EVCommunicationLost",
        offline=True,
        idToken={"idToken": "CARD-2", "type": "ISO14443"},
        info={"stoppedReason": "EVDisconnected"},
        meterValue=[
            {"timestamp": at, "sampledValue": [{"value": 13500, "context": "Transaction.End"}]}
        ],
    )
    return [
        summarize(started, []),
        summarize(updated, ["the timestamp is 3 min in the future"]),
        summarize(ended, []),
    ]


def stored(name: str) -> Any:
    return orjson.loads((STORED / name).read_bytes())


def test_what_b667fec_stored_reads_back_without_charging_states() -> None:
    kept = stored("tx_event_json_b667fec.json")
    before = [replace(e, charging_state=None) for e in events()[:2]]
    folded = Fold.from_json(kept["fold"])
    assert folded == Fold.of(before)
    assert folded.state() == Fold.of(before).state()
    assert EventSummary.from_json(orjson.dumps(kept["summary"])) == before[-1]


def test_what_269f319_stored_reads_back_as_its_events() -> None:
    kept = stored("tx_event_json_269f319.json")
    *_, ended = made = events()
    folded = Fold.from_json(kept["fold"])
    assert folded == Fold.of(made)
    assert folded.state() == Fold.of(made).state()
    assert EventSummary.from_json(orjson.dumps(kept["summary"])) == ended


def test_what_is_written_now_is_what_269f319_wrote() -> None:
    *_, ended = made = events()
    written = {
        "fold": orjson.loads(Fold.of(made).to_json()),
        "summary": orjson.loads(ended.to_json()),
    }
    assert written == stored("tx_event_json_269f319.json")


def test_ids_of_ours_past_32_bits_are_kept_as_absent_with_a_warning() -> None:
    """A reservationId or remoteStartId no 32-bit id of ours can be: stored as absent (the
    columns are 32-bit), the event's warnings saying so."""
    big = request("Started", 0, "2026-11-25T08:00:00Z", reservationId=2**31, info={})
    big_remote = request("Updated", 1, "2026-11-25T08:00:00Z", info={"remoteStartId": -(2**31) - 1})
    warnings: list[str] = []
    summary = summarize(big, warnings)
    assert summary.reservation_id is None
    assert warnings == [f"reservationId {2**31} names none of ours (past 32 bits): ignored"]
    assert summary.warnings == tuple(warnings)
    assert summarize(big_remote, []).remote_start_id is None
    fits = request("Started", 0, "2026-11-25T08:00:00Z", reservationId=2**31 - 1, info={})
    none: list[str] = []
    assert summarize(fits, none).reservation_id == 2**31 - 1 and none == []

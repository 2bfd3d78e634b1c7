"""2.0.1 TransactionEvents folded into one transaction, and idTokens judged by the 1.6 rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson

from csms_shared.ocpp.v16.enums import AuthorizationStatus as S
from csms_shared.ocpp.v201.datatypes import SampledValue
from csms_shared.ocpp.v201.enums import AuthorizationStatusEnum, IdTokenEnum
from csms_shared.ocpp.v201.messages import TransactionEventRequest
from csms_shared.vocabulary import AuthorizationDecision
from session_service import id_tokens
from session_service.action_transaction_event import charging_state_changed
from session_service.auth import Authorization, IdTagRecord
from session_service.tx_events import EventSummary, register_reading, summarize, value_text
from session_service.tx_fold import Fold, fold

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def event(kind: str, seq: int, minutes: int, wh: float | None = None, **extra: Any) -> EventSummary:
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": "TX-1", **extra.pop("info", {})},
        **extra,
    }
    if wh is not None:
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(kind)
        payload["meterValue"] = [
            {
                "timestamp": payload["timestamp"],
                "sampledValue": [{"value": wh, **({"context": context} if context else {})}],
            }
        ]
    return summarize(TransactionEventRequest.model_validate(payload), [])


def whole() -> list[EventSummary]:
    return [
        event(
            "Started",
            0,
            0,
            1000,
            evse={"id": 2, "connectorId": 1},
            idToken={"idToken": "CARD-1", "type": "ISO14443"},
        ),
        event("Updated", 1, 10, 4000),
        event("Ended", 2, 30, 13500, info={"stoppedReason": "EVDisconnected"}),
    ]


def test_a_whole_transaction_folds_into_start_and_stop_figures() -> None:
    state = fold(whole())
    assert (state.start_time, state.meter_start) == (T0, 1000)
    assert (state.stop_time, state.meter_stop) == (T0 + timedelta(minutes=30), 13500)
    assert (state.connector_id, state.evse_connector_id) == (2, 1)
    assert (state.id_token, state.id_token_type) == ("CARD-1", "ISO14443")
    assert state.stop_reason == "EVDisconnected"
    assert state.warnings == []


def test_every_order_of_the_same_events_folds_the_same() -> None:
    states = {repr(fold(list(order))) for order in itertools.permutations(whole())}
    assert len(states) == 1


def test_an_ended_alone_is_a_stopped_transaction_without_energy_until_its_start_comes() -> None:
    ended = event("Ended", 2, 30, 13500, evse={"id": 1})
    alone = fold([ended])
    assert alone.ended and alone.meter_start == alone.meter_stop == 13500
    assert alone.stop_reason == "Local"  # E06: left out only when Local
    late = fold([ended, event("Started", 0, 0, 1000)])
    assert (late.start_time, late.meter_start, late.meter_stop) == (T0, 1000, 13500)


def test_an_event_without_readings_or_evse_is_warned_about() -> None:
    state = fold([event("Ended", 0, 5)])
    assert state.meter_start == state.meter_stop == 0
    assert "no event of this transaction named its EVSE" in state.warnings
    assert any("energy counted as 0" in w for w in state.warnings)


def test_a_summary_survives_its_json() -> None:
    [started, *_] = whole()
    assert EventSummary.from_json(started.to_json()) == started


def charging(seq: int, minutes: int, state: str | None) -> EventSummary:
    info = {"chargingState": state} if state else {}
    return event("Updated", seq, minutes, info=info, triggerReason="ChargingStateChanged")


def test_the_charging_state_is_the_newest_events_whatever_the_order() -> None:
    started = event("Started", 0, 0, evse={"id": 2}, info={"chargingState": "EVConnected"})
    events = [
        started,
        charging(1, 5, "Charging"),
        charging(2, 9, "SuspendedEV"),
        charging(3, 12, None),
    ]
    assert started.charging_state == "EVConnected"
    assert EventSummary.from_json(events[2].to_json()) == events[2]
    for order in itertools.permutations(events):
        assert fold(list(order)).charging_state == "SuspendedEV"


def running(**changed: Any) -> Any:
    """A transaction row as the one-event path leaves it."""
    row = {
        "charge_point_id": "CS-1",
        "connector_id": 2,
        "evse_connector_id": 1,
        "id": 42,
        "station_transaction_id": "TX-1",
        "stop_time": None,
    }
    return SimpleNamespace(**(row | changed))


def test_a_new_charging_state_of_a_running_transaction_is_announced() -> None:
    kept = Fold.of([event("Started", 0, 0, evse={"id": 2}), charging(1, 5, "Charging")])
    before = kept.charging_state
    kept.add(charging(2, 9, "SuspendedEV"))
    changed = charging_state_changed(running(), before, kept.state(), T0)
    assert changed is not None
    body = orjson.loads(changed.encode())
    assert body == {
        "v": 1,
        "event": "transaction.charging_state_changed",
        "at": "2026-11-25T08:00:00Z",
        "chargePointId": "CS-1",
        "connectorId": 2,
        "evseConnectorId": 1,
        "transactionId": 42,
        "stationTransactionId": "TX-1",
        "chargingState": "SuspendedEV",
        "ocppVersion": "2.0.1",
    }
    unknown_connector = charging_state_changed(
        running(evse_connector_id=None), None, kept.state(), T0
    )
    assert unknown_connector is not None
    assert "evseConnectorId" not in orjson.loads(unknown_connector.encode())


def test_an_unchanged_late_or_ended_charging_state_is_not_announced() -> None:
    kept = Fold.of([event("Started", 0, 0, evse={"id": 2}), charging(5, 9, "SuspendedEV")])
    state = kept.state()
    # The same again, or none given.
    assert charging_state_changed(running(), "SuspendedEV", state, T0) is None
    assert charging_state_changed(running(), None, fold([event("Started", 0, 0)]), T0) is None
    # An event queued offline and sent late (a lower seqNo) leaves the newest state.
    kept.add(charging(3, 5, "Charging"))
    assert charging_state_changed(running(), "SuspendedEV", kept.state(), T0) is None
    # The transaction is over: its EV's state no longer counts.
    assert charging_state_changed(running(stop_time=T0), "Charging", state, T0) is None


def test_register_readings_apply_the_unit_and_multiplier() -> None:
    def sv(**kw: Any) -> SampledValue:
        return SampledValue.model_validate(kw)

    assert register_reading(sv(value=5.5, unitOfMeasure={"unit": "kWh"})) == Decimal("5500")
    assert register_reading(sv(value=12, unitOfMeasure={"unit": "Wh", "multiplier": 3})) == 12000
    assert value_text(sv(value=12, unitOfMeasure={"multiplier": 3})) == "12000"
    assert value_text(sv(value=0.25)) == "0.25"
    assert register_reading(sv(value=7400, measurand="Power.Active.Import")) is None
    assert register_reading(sv(value=1, measurand="Energy.Active.Net")) is None  # 1.6 lacks it
    assert register_reading(sv(value=1, phase="L1")) is None


def tag(**kw: Any) -> IdTagRecord:
    return IdTagRecord(**({"id_tag": "CARD-1", "status": S.ACCEPTED} | kw))


def test_a_token_reaches_an_entry_of_its_own_type_or_any_as_central_or_local() -> None:
    card = tag(type="ISO14443")
    assert id_tokens.entry_for(card, IdTokenEnum.ISO14443) is card
    assert id_tokens.entry_for(card, IdTokenEnum.ISO15693) is None
    assert id_tokens.entry_for(card, IdTokenEnum.CENTRAL) is card
    assert id_tokens.entry_for(card, IdTokenEnum.LOCAL) is card
    assert id_tokens.needs_no_list(IdTokenEnum.NO_AUTHORIZATION)


def test_the_decision_is_spelled_as_an_id_token_info() -> None:
    expiry = T0 + timedelta(days=1)
    member = tag(parent_id_tag="FLEET", parent_type="Central", expiry_date=expiry)
    info = Authorization(AuthorizationDecision.ACCEPTED, expiry, "FLEET")
    answer = id_tokens.token_info(info, member)
    assert answer.to_payload() == {
        "status": "Accepted",
        "cacheExpiryDateTime": expiry.isoformat().replace("+00:00", "Z"),
        "groupIdToken": {"idToken": "FLEET", "type": "Central"},
    }
    # Unknown is decided as such (not rebuilt from 1.6's Invalid).
    unknown = id_tokens.token_info(Authorization(AuthorizationDecision.UNKNOWN), None)
    assert unknown.status is AuthorizationStatusEnum.UNKNOWN
    free = id_tokens.token_info(Authorization(AuthorizationDecision.ACCEPTED), None)
    assert free.status is AuthorizationStatusEnum.ACCEPTED
    blocked = id_tokens.token_info(Authorization(AuthorizationDecision.BLOCKED), tag())
    assert blocked.status is AuthorizationStatusEnum.BLOCKED

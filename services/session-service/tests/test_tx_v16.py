"""1.6's StartTransaction and StopTransaction folded as Started and Ended events (tx_v16.py):
the transaction the fold describes is the one 1.6's rules describe, and 1.6 MeterValues, were
they folded as Updated events, would change nothing of it but the newest register reading."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from csms_shared.ocpp.v16.enums import Reason
from csms_shared.ocpp.v16.messages import StartTransactionRequest, StopTransactionRequest
from csms_shared.vocabulary import TriggerReason
from session_service import tx_v16
from session_service.tx_events import BEGIN, END, UPDATED, EventSummary, Reading
from session_service.tx_fold import Fold

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _start(**overrides: object) -> StartTransactionRequest:
    fields: dict[str, object] = {
        "connector_id": 2,
        "id_tag": "CARD-1",
        "meter_start": 1_000,
        "timestamp": T0,
    }
    return StartTransactionRequest(**{**fields, **overrides})  # type: ignore[arg-type]


def _stop(**overrides: object) -> StopTransactionRequest:
    fields: dict[str, object] = {
        "meter_stop": 5_500,
        "timestamp": T0 + timedelta(hours=1),
        "transaction_id": 7,
    }
    return StopTransactionRequest(**{**fields, **overrides})  # type: ignore[arg-type]


def test_a_start_is_the_transaction_its_starttransaction_says() -> None:
    state = Fold.of([tx_v16.started(_start(), 42, ["a warning"])]).state()
    assert state.started and not state.ended
    assert (state.start_time, state.meter_start) == (T0, 1_000)
    # 1.6 connector 2 is EVSE 2, connector 1.
    assert (state.connector_id, state.evse_connector_id) == (2, 1)
    assert (state.id_token, state.id_token_type) == ("CARD-1", "ISO14443")
    assert state.reservation_id == 42
    assert state.warnings == ["a warning"]


def test_a_stop_is_the_end_its_stoptransaction_says() -> None:
    fold = Fold.of([tx_v16.started(_start(), None, [])])
    fold.add(tx_v16.ended(_stop(id_tag="CARD-2", reason="Remote"), ["late"]))
    state = fold.state()
    assert state.ended
    assert (state.stop_time, state.meter_stop) == (T0 + timedelta(hours=1), 5_500)
    assert (state.stop_reason, state.stop_id_token) == ("Remote", "CARD-2")
    assert state.warnings == ["late"]


def test_a_stop_without_a_reason_was_local() -> None:
    # 1.6 section 6.48: the reason may be left out only when it is Local.
    fold = Fold.of([tx_v16.started(_start(), None, []), tx_v16.ended(_stop(), [])])
    assert fold.state().stop_reason == "Local"
    assert fold.state().stop_id_token is None


def test_a_stop_says_what_triggered_it() -> None:
    assert tx_v16.ended(_stop(), []).trigger_reason == "StopAuthorized"
    assert tx_v16.ended(_stop(reason="EVDisconnected"), []).trigger_reason == "EVCommunicationLost"
    assert TriggerReason.of_v16_stop(Reason.SOFT_RESET) is TriggerReason.RESET_COMMAND
    assert TriggerReason.of_v16_stop(Reason.POWER_LOSS) is TriggerReason.ABNORMAL_CONDITION


def test_a_stored_row_folds_as_its_start_did() -> None:
    start = _start(reservation_id=9)
    kept = Fold.of([tx_v16.started(start, 9, ["w"])])
    row = SimpleNamespace(
        connector_id=2,
        start_time=T0,
        id_tag="CARD-1",
        id_token_type="ISO14443",
        reservation_id=9,
        meter_start=1_000,
        warnings=["w"],
    )
    assert tx_v16.fold_of(row).state() == kept.state()
    # Kept before migration 0009: no type, a card's.
    assert tx_v16.fold_of(SimpleNamespace(**{**vars(row), "id_token_type": None})).state() == (
        kept.state()
    )


def test_a_start_on_connector_0_warns_once_and_its_stop_adds_nothing_of_its_own() -> None:
    # The start's own check said it; the fold's "no EVSE" warning is left out for 1.6.
    said = ["connectorId 0 is not a connector (they are numbered from 1)"]
    started = tx_v16.state_of(Fold.of([tx_v16.started(_start(connector_id=0), None, said)]))
    assert started.warnings == said
    assert (started.connector_id, started.evse_connector_id) == (0, 0)
    row = SimpleNamespace(
        connector_id=0,
        start_time=T0,
        id_tag="CARD-1",
        id_token_type="ISO14443",
        reservation_id=None,
        meter_start=1_000,
        warnings=started.warnings,
    )
    fold = tx_v16.fold_of(row)
    fold.add(tx_v16.ended(_stop(), ["late"]))
    assert tx_v16.state_of(fold).warnings == [*said, "late"]


def test_the_start_keeps_its_re_send_key_as_sent() -> None:
    # uq_transactions_start: connector, idTag, timestamp, meterStart, as the CP sent them.
    request = _start(connector_id=3, meter_start=2**62, id_tag="card-x")
    state = tx_v16.state_of(Fold.of([tx_v16.started(request, None, [])]))
    assert (state.connector_id, state.id_token, state.start_time, state.meter_start) == (
        3,
        "card-x",
        T0,
        2**62,
    )


_readings = st.lists(
    st.builds(
        Reading,
        at=st.integers(-600, 7_200).map(lambda s: T0 + timedelta(seconds=s)),
        wh=st.integers(0, 10**7).map(Decimal),
        context=st.sampled_from([None, BEGIN, END, "Sample.Periodic", "Sample.Clock"]),
    ),
    max_size=4,
)


@given(st.lists(_readings, max_size=6), st.permutations(range(8)), st.booleans())
def test_meter_values_folded_as_updated_events_change_nothing_but_the_newest_reading(
    meter_values: list[list[Reading]], order: list[int], stopped: bool
) -> None:
    start = tx_v16.started(_start(), 3, ["w"])
    stop = tx_v16.ended(_stop(reason="EVDisconnected", id_tag="CARD-1"), [])
    updated = [
        EventSummary(
            seq_no=n + 1,
            event_type=UPDATED,
            timestamp=max((r.at for r in readings), default=T0),
            trigger_reason=TriggerReason.METER_VALUE_PERIODIC.value,
            readings=tuple(readings),
        )
        for n, readings in enumerate(meter_values)
    ]
    told = [start, stop] if stopped else [start]
    events = [*told, *updated]
    # Any order: a start and stop told after MeterValues still fold the same.
    shuffled = [events[n] for n in order if n < len(events)]
    with_meter_values = Fold.of(shuffled).state()
    without = Fold.of(told).state()
    assert replace(with_meter_values, last_register=None) == replace(without, last_register=None)

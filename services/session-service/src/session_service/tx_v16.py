"""1.6's StartTransaction and StopTransaction as the Started and Ended events of the one
transaction lifecycle: a 1.6 transaction's columns are what `tx_fold.Fold` says of these
events, by the rule that makes a 2.0.1 transaction's (pure logic, no I/O). A 1.6 row keeps no
fold: its Started event is rebuilt from its columns when its stop is folded (`fold_of`).

1.6 has no seqNo: its start is the first event (`START_SEQ_NO`) and its stop the last
(`END_SEQ_NO`). Its MeterValues are Updated events whose only part in the fold's answer would be
the newest register reading: a 1.6 start and stop each carry their own register reading
(meterStart, meterStop), so the fold's meterStart and meterStop never fall back to them, and
`meter_values.signs_of_life` writes that newest reading straight to the row, for a whole group in
one statement, instead of reading and writing the fold per MeterValues
(tests/test_tx_v16.py folds them in to show they change nothing else). 1.6's re-send rules stay
keyed by content: a StartTransaction sent again is the same start
(`uq_transactions_start`), a StopTransaction is matched by `acceptance.match_stop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from csms_shared.ocpp import INT32_MAX
from csms_shared.ocpp.v16.messages import StartTransactionRequest, StopTransactionRequest
from csms_shared.vocabulary import ConnectorRef, StoppedReason, TriggerReason
from csms_shared.vocabulary.tokens import V16_TOKEN_TYPE
from csms_shared.vocabulary.transactions import V16_START_TRIGGER

from .tx_events import BEGIN, END, ENDED, STARTED, EventSummary, Reading
from .tx_fold import NO_EVSE, Fold, TransactionState

START_SEQ_NO = 0
END_SEQ_NO = INT32_MAX  # above any Updated a 1.6 transaction's MeterValues would be


def _started(
    at: datetime,
    connector_id: int,
    id_tag: str,
    reservation_id: int | None,
    meter_start: int,
    warnings: Sequence[str],
    id_token_type: str = V16_TOKEN_TYPE.value,
) -> EventSummary:
    ref = ConnectorRef.from_v16(connector_id)
    return EventSummary(
        seq_no=START_SEQ_NO,
        event_type=STARTED,
        timestamp=at,
        trigger_reason=V16_START_TRIGGER.value,
        id_token=id_tag,
        id_token_type=id_token_type,
        evse_id=ref.evse_id,
        connector_id=ref.connector_id,
        reservation_id=reservation_id,
        readings=(Reading(at, Decimal(meter_start), BEGIN),),
        warnings=tuple(warnings),
    )


def started(
    request: StartTransactionRequest, reservation_id: int | None, warnings: Sequence[str]
) -> EventSummary:
    """A StartTransaction as its transaction's Started event (`reservation_id`: the reservation
    it consumes or names; `warnings`: the checks it earned). A 1.6 idTag is an RFID card's UID
    (the vocabulary's V16_TOKEN_TYPE); connector n is EVSE n, connector 1."""
    return _started(
        request.timestamp,
        request.connector_id,
        request.id_tag,
        reservation_id,
        request.meter_start,
        warnings,
    )


def ended(request: StopTransactionRequest, warnings: Sequence[str]) -> EventSummary:
    """A StopTransaction as its transaction's Ended event (its transactionData is stored as
    meter values, not folded: meterStop is the stop's reading)."""
    return EventSummary(
        seq_no=END_SEQ_NO,
        event_type=ENDED,
        timestamp=request.timestamp,
        trigger_reason=TriggerReason.of_v16_stop(request.reason).value,
        id_token=request.id_tag,
        id_token_type=V16_TOKEN_TYPE.value if request.id_tag is not None else None,
        stopped_reason=StoppedReason.from_v16(request.reason).value,
        readings=(Reading(request.timestamp, Decimal(request.meter_stop), END),),
        warnings=tuple(warnings),
    )


def fold_of(row: Any) -> Fold:
    """The fold of a stored 1.6 transaction's events so far: its Started event, rebuilt from the
    columns its StartTransaction wrote (a 1.6 row keeps no fold of its own: every figure of its
    start is in its columns, and writing them again as JSON cost a tenth of the request/reply
    loop's throughput in a paired bench run)."""
    return Fold.of(
        [
            _started(
                row.start_time,
                row.connector_id,
                row.id_tag,
                row.reservation_id,
                row.meter_start,
                row.warnings or (),
                # Rows kept before migration 0009 said no type: their idTag was a card's.
                row.id_token_type or V16_TOKEN_TYPE.value,
            )
        ]
    )


def state_of(fold: Fold) -> TransactionState:
    """The transaction a 1.6 transaction's events describe. A StartTransaction on connector 0
    named EVSE 0: its own check says so ("connectorId 0 is not a connector",
    `checks.connector_warnings`), so the fold's warning for a transaction on no EVSE, untrue
    here, is left out (kept, the stop would bring it back from the row a second time)."""
    state = fold.state()
    state.warnings = [w for w in state.warnings if w != NO_EVSE]
    return state

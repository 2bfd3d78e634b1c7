"""OCPP 2.0.1 TransactionEvents as what they say about their transaction (pure logic, no I/O).

A 2.0.1 transaction arrives in pieces (Started, Updated..., Ended, each with a seqNo), possibly
late, twice or out of order (offline queues). Each event is reduced to what it says about its
transaction (`EventSummary`, stored with it); the transaction is the fold of all its summaries
(tx_fold.py), so any order of the same events ends in the same transaction. The figures follow
the 1.6 rules: meterStart and meterStop are active import register readings in Wh, the start is
the Started event's, the stop the Ended event's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, TypeVar

import orjson
from pydantic import ConfigDict, PlainSerializer, PlainValidator, TypeAdapter

from csms_shared.ocpp.v16.enums import Location, Measurand, UnitOfMeasure
from csms_shared.ocpp.v201.datatypes import MeterValue, SampledValue
from csms_shared.ocpp.v201.enums import ReadingContextEnum, TransactionEventEnum
from csms_shared.ocpp.v201.messages import TransactionEventRequest

from .checks import INT32, fits
from .energy import register_wh
from .meter_values import MeterRow

STARTED = TransactionEventEnum.STARTED.value
ENDED = TransactionEventEnum.ENDED.value
UPDATED = TransactionEventEnum.UPDATED.value
BEGIN, END = ReadingContextEnum.TRANSACTION_BEGIN.value, ReadingContextEnum.TRANSACTION_END.value
E = TypeVar("E", Measurand, Location, UnitOfMeasure)


def _stored_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"a time is an ISO 8601 string, not {type(value).__name__}")


# A time in stored JSON (summaries, folds), written by datetime.isoformat and read back by
# datetime.fromisoformat: "+00:00" as every stored row has it (pydantic would write "Z"), and
# back in datetime.UTC (with pydantic's own tzinfo each comparison the fold makes is 10x slower).
StoredTime = Annotated[
    datetime,
    PlainValidator(_stored_time),
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
]


def value_text(sv: SampledValue) -> str:
    """A sampled value as text, its unit's multiplier applied (the table has no column for it):
    a 2.0.1 value is a JSON number, a 1.6 one a string."""
    number = Decimal(repr(sv.value)) if isinstance(sv.value, float) else Decimal(sv.value)
    multiplier = sv.unit_of_measure.multiplier if sv.unit_of_measure else None
    if multiplier:
        number = number.scaleb(multiplier)
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def _v16(kind: type[E], value: str | None) -> E | None:
    return None if value is None else kind(value)


def register_reading(sv: SampledValue) -> Decimal | None:
    """The outlet's active import register in Wh, if `sv` is one: energy.register_wh's rule,
    its 2.0.1 spellings translated (a measurand or unit 1.6 lacks is no register)."""
    unit = sv.unit_of_measure.unit if sv.unit_of_measure else None
    try:
        measurand = _v16(Measurand, sv.measurand.value if sv.measurand else None)
        location = _v16(Location, sv.location.value if sv.location else None)
        unit_of_measure = _v16(UnitOfMeasure, unit)
    except ValueError:
        return None
    # The multiplier is in value_text already.
    return register_wh(
        value_text(sv),
        measurand=measurand,
        format=None,
        phase=sv.phase.value if sv.phase else None,
        location=location,
        unit=unit_of_measure,
    )


def sampled_rows(
    readings: list[MeterValue],
    *,
    cp_id: str,
    connector_id: int,
    transaction_id: int | None,
    source: str,
    received: datetime,
) -> list[MeterRow]:
    """One row of the meter values table per 2.0.1 sampledValue (meter_values.sampled_rows's
    twin): the value with its multiplier applied, the unit as sent."""
    return [
        MeterRow(
            charge_point_id=cp_id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            timestamp=reading.timestamp,
            value=value_text(sv),
            context=sv.context.value if sv.context else None,
            format=None,
            measurand=sv.measurand.value if sv.measurand else None,
            phase=sv.phase.value if sv.phase else None,
            location=sv.location.value if sv.location else None,
            unit=sv.unit_of_measure.unit if sv.unit_of_measure else None,
            source=source,
            received_at=received,
            signed=_signed(sv),
        )
        for reading in readings
        for sv in reading.sampled_value
    ]


def _signed(sv: SampledValue) -> str | None:
    """A 2.0.1 signedMeterValue as the table keeps it (JSON text, camelCase)."""
    signed = sv.signed_meter_value
    if signed is None:
        return None
    return orjson.dumps(signed.to_payload()).decode()


@dataclass(frozen=True, slots=True)
class Reading:
    """A register reading an event carried: when, how many Wh, in what context."""

    at: StoredTime
    wh: Decimal
    context: str | None


@dataclass(frozen=True, slots=True)
class EventSummary:
    """What one TransactionEvent says about its transaction (stored as JSON with the event)."""

    # Its own config: its keys are its fields' names, not the camelCase of a Fold that holds it.
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict()

    seq_no: int
    event_type: str
    timestamp: StoredTime
    trigger_reason: str
    offline: bool = False
    id_token: str | None = None
    id_token_type: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    charging_state: str | None = None
    readings: tuple[Reading, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        """The summary as stored (transaction_events.summary)."""
        return _SUMMARY.dump_json(self)

    @classmethod
    def from_json(cls, stored: bytes | str) -> EventSummary:
        """A stored summary (one kept before chargingState was summed up has none)."""
        return _SUMMARY.validate_json(stored)


_SUMMARY = TypeAdapter(EventSummary)


def _ours(value: int | None, field: str, warnings: list[str]) -> int | None:
    """An id we hand out (a reservation's, a remote start's: 32-bit): past 32 bits it names
    none of ours, and is kept as absent with a warning."""
    if value is None or fits(value, INT32):
        return value
    warnings.append(f"{field} {value} names none of ours (past 32 bits): ignored")
    return None


def summarize(request: TransactionEventRequest, warnings: list[str]) -> EventSummary:
    """What `request` says about its transaction (`warnings`: the checks it earned, and
    those its ids earn here)."""
    info, token, evse = request.transaction_info, request.id_token, request.evse
    readings = tuple(
        Reading(reading.timestamp, wh, sv.context.value if sv.context else None)
        for reading in request.meter_value or []
        for sv in reading.sampled_value
        if (wh := register_reading(sv)) is not None
    )
    return EventSummary(
        seq_no=request.seq_no,
        event_type=request.event_type.value,
        timestamp=request.timestamp,
        trigger_reason=request.trigger_reason.value,
        offline=bool(request.offline),
        id_token=token.id_token if token else None,
        id_token_type=token.type.value if token else None,
        evse_id=evse.id if evse else None,
        connector_id=evse.connector_id if evse else None,
        stopped_reason=info.stopped_reason.value if info.stopped_reason else None,
        remote_start_id=_ours(info.remote_start_id, "remoteStartId", warnings),
        reservation_id=_ours(request.reservation_id, "reservationId", warnings),
        charging_state=info.charging_state.value if info.charging_state else None,
        readings=readings,
        warnings=tuple(warnings),
    )

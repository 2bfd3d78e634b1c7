"""OCPP 2.0.1 TransactionEvents as the transaction they describe (pure logic, no I/O).

A 2.0.1 transaction arrives in pieces (Started, Updated..., Ended, each with a seqNo), possibly
late, twice or out of order (offline queues). Each event is reduced to what it says about its
transaction (`EventSummary`, stored with it); the transaction is the fold of all its summaries
(`fold`), so any order of the same events ends in the same transaction. The figures follow the
1.6 rules: meterStart and meterStop are active import register readings in Wh, the start is the
Started event's, the stop the Ended event's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from csms_shared.ocpp.v16.enums import Location, Measurand, UnitOfMeasure
from csms_shared.ocpp.v201.datatypes import MeterValue, SampledValue
from csms_shared.ocpp.v201.enums import ReadingContextEnum, TransactionEventEnum
from csms_shared.ocpp.v201.messages import TransactionEventRequest

from .energy import register_wh
from .meter_values import MeterRow

STARTED = TransactionEventEnum.STARTED.value
ENDED = TransactionEventEnum.ENDED.value
BEGIN, END = ReadingContextEnum.TRANSACTION_BEGIN.value, ReadingContextEnum.TRANSACTION_END.value
E = TypeVar("E", Measurand, Location, UnitOfMeasure)
T = TypeVar("T")
# 2.0.1 E06: a stoppedReason may be left out only when it is Local.
DEFAULT_STOPPED_REASON = "Local"


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
        )
        for reading in readings
        for sv in reading.sampled_value
    ]


@dataclass(frozen=True, slots=True)
class Reading:
    """A register reading an event carried: when, how many Wh, in what context."""

    at: datetime
    wh: Decimal
    context: str | None


@dataclass(frozen=True, slots=True)
class EventSummary:
    """What one TransactionEvent says about its transaction (stored as JSON with the event)."""

    seq_no: int
    event_type: str
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    id_token: str | None = None
    id_token_type: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    readings: tuple[Reading, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The summary as stored (transaction_events.summary)."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        data["readings"] = [
            {"at": r.at.isoformat(), "wh": str(r.wh), "context": r.context} for r in self.readings
        ]
        data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventSummary:
        """A stored summary."""
        values = dict(data)
        values["timestamp"] = datetime.fromisoformat(data["timestamp"])
        values["readings"] = tuple(
            Reading(datetime.fromisoformat(r["at"]), Decimal(r["wh"]), r["context"])
            for r in data["readings"]
        )
        values["warnings"] = tuple(data["warnings"])
        return cls(**values)


def summarize(request: TransactionEventRequest, warnings: list[str]) -> EventSummary:
    """What `request` says about its transaction (`warnings`: the checks it earned)."""
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
        remote_start_id=info.remote_start_id,
        reservation_id=request.reservation_id,
        readings=readings,
        warnings=tuple(warnings),
    )


@dataclass(slots=True)
class TransactionState:
    """A 2.0.1 transaction as the events received so far describe it."""

    started: bool
    start_time: datetime
    meter_start: int
    connector_id: int
    evse_connector_id: int | None
    id_token: str | None
    id_token_type: str | None
    remote_start_id: int | None
    reservation_id: int | None
    ended: bool = False
    stop_time: datetime | None = None
    meter_stop: int | None = None
    stop_reason: str | None = None
    stop_id_token: str | None = None
    last_register: Reading | None = None
    warnings: list[str] = field(default_factory=list)


def _wh(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _first(values: list[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


def _begin(events: list[EventSummary], started: EventSummary | None) -> Reading | None:
    """meterStart's reading: the Started event's (Transaction.Begin first), else any
    Transaction.Begin reading, else the earliest reading of all."""
    everything = sorted((r for e in events for r in e.readings), key=lambda r: r.at)
    own = sorted(started.readings, key=lambda r: r.at) if started else []
    for pool in (
        [r for r in own if r.context == BEGIN],
        own,
        [r for r in everything if r.context == BEGIN],
        everything,
    ):
        if pool:
            return pool[0]
    return None


def _end(events: list[EventSummary], ended: EventSummary) -> Reading | None:
    """meterStop's reading: the Ended event's (Transaction.End first), else any
    Transaction.End reading, else the latest reading of all."""
    everything = sorted((r for e in events for r in e.readings), key=lambda r: r.at)
    own = sorted(ended.readings, key=lambda r: r.at)
    for pool in (
        [r for r in own if r.context == END],
        own,
        [r for r in everything if r.context == END],
        everything,
    ):
        if pool:
            return pool[-1]
    return None


def fold(events: list[EventSummary]) -> TransactionState:
    """The transaction `events` describe, whatever the order they came in (at least one)."""
    events = sorted(events, key=lambda e: e.seq_no)
    started = next((e for e in events if e.event_type == STARTED), None)
    ended = next((e for e in events if e.event_type == ENDED), None)
    # The token of the start, else the first one any event brought (authorized later).
    tokened = [e for e in ([started] if started else []) + events if e.id_token is not None]
    begin = _begin(events, started)
    meter_start = _wh(begin.wh) if begin else 0
    everything = sorted((r for e in events for r in e.readings), key=lambda r: r.at)
    state = TransactionState(
        started=started is not None,
        start_time=started.timestamp if started else min(e.timestamp for e in events),
        meter_start=meter_start,
        connector_id=_first([e.evse_id for e in events]) or 0,
        evse_connector_id=_first([e.connector_id for e in events]),
        id_token=tokened[0].id_token if tokened else None,
        id_token_type=tokened[0].id_token_type if tokened else None,
        remote_start_id=_first([e.remote_start_id for e in events]),
        reservation_id=_first([e.reservation_id for e in events]),
        last_register=everything[-1] if everything else None,
        warnings=[w for e in events for w in e.warnings],
    )
    if state.connector_id == 0:
        state.warnings.append("no event of this transaction named its EVSE")
    if ended is not None:
        end = _end(events, ended)
        state.ended = True
        state.stop_time = ended.timestamp
        state.meter_stop = _wh(end.wh) if end else meter_start
        if begin is None:
            state.warnings.append("no energy register reading in any event; energy counted as 0")
        reasons = [e.stopped_reason for e in reversed(events)]
        state.stop_reason = ended.stopped_reason or _first(reasons) or DEFAULT_STOPPED_REASON
        state.stop_id_token = ended.id_token
    return state

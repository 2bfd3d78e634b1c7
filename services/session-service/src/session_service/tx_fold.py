"""A 2.0.1 transaction as the fold of its TransactionEvents, kept as a running `Fold`.

`fold(events)` is the transaction any order of the same events describes. Reading every event
back for each new one would cost a long transaction (an Updated a minute for hours) more with
every event, so the transaction row keeps a `Fold`: what the rule below needs of the events seen
so far, a few readings and at most two whole events, whatever their number. Adding an event to
it gives the same state as folding all of them again (`Fold.of(events).state() == fold(events)`,
tests/test_v201_mapping.py checks it on random events).

The rule, each part independent of arrival order:
- the Started event is the one with the lowest seqNo of that type, the Ended likewise;
- meterStart is the Started event's Transaction.Begin register reading, else its earliest one,
  else the earliest Transaction.Begin reading of any event, else the earliest of all; meterStop
  the Ended event's Transaction.End reading, else its latest, else the latest Transaction.End
  reading of any event, else the latest of all (readings ordered by time, then seqNo, then
  their place in the event);
- the EVSE, connector, remoteStartId and reservation are the first any event gave (by seqNo);
  the idToken the Started event's, else the first any event gave;
- the start is the Started event's timestamp, else the earliest event's; the stopped reason the
  Ended event's, else the last any event gave, else Local (2.0.1 E06);
- the chargingState is the last any event gave (by seqNo), whatever the event's type;
- the warnings are every event's, in seqNo order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar, Generic, NamedTuple, TypeVar

from pydantic import ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from .tx_events import BEGIN, END, ENDED, STARTED, EventSummary, Reading, StoredTime

# 2.0.1 E06: a stoppedReason may be left out only when it is Local.
DEFAULT_STOPPED_REASON = "Local"
NO_REGISTER = "no energy register reading in any event; energy counted as 0"
NO_EVSE = "no event of this transaction named its EVSE"
T = TypeVar("T")
# A reading's place among all the transaction's readings: its time, its event's seqNo, its
# place in that event.
Rank = tuple[StoredTime, int, int]


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
    charging_state: str | None = None
    last_register: Reading | None = None
    warnings: list[str] = field(default_factory=list)


def _wh(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Ranked:
    """A register reading (`reading`) with its place (`Rank`) among the transaction's readings."""

    rank: Rank
    at: StoredTime
    wh: Decimal
    context: str | None

    @property
    def reading(self) -> Reading:
        """The reading, without its place."""
        return Reading(self.at, self.wh, self.context)


class First(NamedTuple, Generic[T]):
    """A value an event gave, with that event's seqNo (the lowest, or the highest, wins)."""

    seq_no: int
    value: T


def _lower(kept: First[T] | None, seq_no: int, value: T | None) -> First[T] | None:
    """`kept`, or the value of a lower seqNo (None values give nothing)."""
    if value is None or (kept is not None and kept.seq_no <= seq_no):
        return kept
    return First(seq_no, value)


def _ranked(event: EventSummary) -> list[Ranked]:
    return [
        Ranked((r.at, event.seq_no, n), r.at, r.wh, r.context) for n, r in enumerate(event.readings)
    ]


def _least(kept: Ranked | None, found: list[Ranked]) -> Ranked | None:
    return min([*found, *([kept] if kept else [])], key=lambda r: r.rank, default=None)


def _most(kept: Ranked | None, found: list[Ranked]) -> Ranked | None:
    return max([*found, *([kept] if kept else [])], key=lambda r: r.rank, default=None)


def _own(event: EventSummary, context: str, last: bool) -> Reading | None:
    """The event's own reading of `context` (else any of its own), earliest or latest."""
    ranked = sorted(_ranked(event), key=lambda r: r.rank)
    for pool in ([r for r in ranked if r.context == context], ranked):
        if pool:
            return pool[-1 if last else 0].reading
    return None


@dataclass(slots=True)
class Fold:
    """What `state` needs of the events seen so far (see the module's rule). Its fields hold
    immutable values: a copy (`dataclasses.replace`) takes in events without changing it."""

    # Kept as JSON with camelCase keys (`to_json`).
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(alias_generator=to_camel)

    started: EventSummary | None = None
    ended: EventSummary | None = None
    earliest_at: StoredTime | None = None
    evse: First[int] | None = None
    connector: First[int] | None = None
    remote_start: First[int] | None = None
    reservation: First[int] | None = None
    token: First[tuple[str, str | None]] | None = None  # (idToken, its type)
    last_reason: First[str] | None = None  # the highest seqNo's stoppedReason
    # The highest seqNo's chargingState; folds kept before chargingState was folded have none.
    last_charging: First[str] | None = None
    earliest: Ranked | None = None
    earliest_begin: Ranked | None = None
    latest: Ranked | None = None
    latest_end: Ranked | None = None
    warnings: tuple[tuple[int, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, events: list[EventSummary]) -> Fold:
        """The fold of `events`, in any order."""
        folded = cls()
        for event in events:
            folded.add(event)
        return folded

    def add(self, event: EventSummary) -> None:
        """Take in one more event (each seqNo once: copies are recognised before)."""
        seq = event.seq_no
        if event.event_type == STARTED and (self.started is None or seq < self.started.seq_no):
            self.started = event
        if event.event_type == ENDED and (self.ended is None or seq < self.ended.seq_no):
            self.ended = event
        if self.earliest_at is None or event.timestamp < self.earliest_at:
            self.earliest_at = event.timestamp
        self.evse = _lower(self.evse, seq, event.evse_id)
        self.connector = _lower(self.connector, seq, event.connector_id)
        self.remote_start = _lower(self.remote_start, seq, event.remote_start_id)
        self.reservation = _lower(self.reservation, seq, event.reservation_id)
        if event.id_token is not None:
            self.token = _lower(self.token, seq, (event.id_token, event.id_token_type))
        reason = event.stopped_reason
        if reason is not None and (self.last_reason is None or seq > self.last_reason.seq_no):
            self.last_reason = First(seq, reason)
        charging = event.charging_state
        if charging is not None and (self.last_charging is None or seq > self.last_charging.seq_no):
            self.last_charging = First(seq, charging)
        ranked = _ranked(event)
        self.earliest = _least(self.earliest, ranked)
        self.latest = _most(self.latest, ranked)
        self.earliest_begin = _least(self.earliest_begin, [r for r in ranked if r.context == BEGIN])
        self.latest_end = _most(self.latest_end, [r for r in ranked if r.context == END])
        if event.warnings:
            added = [*self.warnings, (seq, event.warnings)]
            self.warnings = tuple(sorted(added, key=lambda w: w[0]))

    @property
    def charging_state(self) -> str | None:
        """The chargingState of the events seen so far (None: no event gave one)."""
        return None if self.last_charging is None else self.last_charging.value

    def _begin(self) -> Reading | None:
        own = _own(self.started, BEGIN, last=False) if self.started else None
        found = own or self.earliest_begin or self.earliest
        return found.reading if isinstance(found, Ranked) else found

    def _end(self, ended: EventSummary) -> Reading | None:
        found = _own(ended, END, last=True) or self.latest_end or self.latest
        return found.reading if isinstance(found, Ranked) else found

    def state(self) -> TransactionState:
        """The transaction the events seen so far describe (at least one was added)."""
        assert self.earliest_at is not None, "a fold of no event"
        started, ended = self.started, self.ended
        begin = self._begin()
        meter_start = _wh(begin.wh) if begin else 0
        token: str | None = None
        kind: str | None = None
        if started is not None and started.id_token is not None:
            token, kind = started.id_token, started.id_token_type
        elif self.token is not None:
            token, kind = self.token.value
        state = TransactionState(
            started=started is not None,
            start_time=started.timestamp if started else self.earliest_at,
            meter_start=meter_start,
            connector_id=self.evse.value if self.evse else 0,
            evse_connector_id=self.connector.value if self.connector else None,
            id_token=token,
            id_token_type=kind,
            remote_start_id=self.remote_start.value if self.remote_start else None,
            reservation_id=self.reservation.value if self.reservation else None,
            charging_state=self.charging_state,
            last_register=self.latest.reading if self.latest else None,
            warnings=[w for _, warnings in self.warnings for w in warnings],
        )
        if state.connector_id == 0:
            state.warnings.append(NO_EVSE)
        if ended is not None:
            end = self._end(ended)
            state.ended = True
            state.stop_time = ended.timestamp
            state.meter_stop = _wh(end.wh) if end else meter_start
            if begin is None:
                state.warnings.append(NO_REGISTER)
            last = self.last_reason.value if self.last_reason else None
            state.stop_reason = ended.stopped_reason or last or DEFAULT_STOPPED_REASON
            state.stop_id_token = ended.id_token
        return state

    def to_json(self) -> bytes:
        """The fold as the transaction row keeps it (transactions.event_fold)."""
        return _FOLD.dump_json(self, by_alias=True)

    @classmethod
    def from_json(cls, kept: object) -> Fold:
        """A kept fold, as the transaction row gives it back: the column's JSON decoded (None:
        a transaction no event was applied to yet)."""
        return cls() if kept is None else _FOLD.validate_python(kept)


_FOLD = TypeAdapter(Fold)


def fold(events: list[EventSummary]) -> TransactionState:
    """The transaction `events` describe, whatever the order they came in (at least one)."""
    return Fold.of(events).state()

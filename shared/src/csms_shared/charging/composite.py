"""The composite schedule of one connector/EVSE, computed from the profiles the CSMS holds.

What a station answers to GetCompositeSchedule (1.6 §3.13.3 and §5.7, 2.0.1 K08), worked out on
the CSMS's side so the two can be shown side by side and a load manager can plan with it. At
each instant:

* per purpose, the profile in force with the highest stack level prevails (1.6 §3.13.2); a
  profile is in force inside its validity [validFrom, validTo) while one of its schedules
  has a period running (so when a higher schedule's duration ends, the next lower one
  prevails again); a TxDefaultProfile on the connector itself wins over one on connector 0
  at the same stack level;
* the transaction's limit is its TxProfile when one is in force, else the TxDefaultProfile;
* the limit is the lowest of the station maximum, the external constraints (2.0.1) and the
  transaction's limit, each converted into the asked unit (W = A x voltage x phases, a
  period without numberPhases counting 3, both versions' default) and rounded down to the
  tenth OCPP allows; the number of phases is the fewest any of them allows.

Anchors: Absolute from startSchedule; Recurring from the last start of its day or week
(startSchedule moved by whole recurrences, either way: validFrom says since when it holds);
Relative (and a 1.6 Absolute without startSchedule, which 1.6 reads as relative to the start
of charging) from the transaction's start, or the window's start when there is none. A
2.0.1 TxProfile offering several ISO 15118 schedules counts with the highest of them: the
EV may pick any.

Offsets are whole seconds, as in OCPP: a change at a fractional second shows from the next
whole second of the window, so the composite equals `limit_at` at every whole-second offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from pydantic import Field

from ..ocpp._base import DateTime
from .profiles import (
    RECURRENCE,
    STATION,
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    Rate,
    RateUnit,
    _Model,
)

__all__ = [
    "DEFAULT_PHASES",
    "DEFAULT_VOLTAGE",
    "ActiveTransaction",
    "CompositePeriod",
    "CompositeSchedule",
    "Limit",
    "composite_schedule",
    "concerns",
    "convert",
    "limit_at",
    "profile_limit_at",
]

# The nominal phase-to-neutral voltage of a European low-voltage connection.
DEFAULT_VOLTAGE = Decimal(230)
# numberPhases when a period leaves it out (1.6 ChargingSchedulePeriod, 2.0.1 K01.FR.49).
DEFAULT_PHASES = 3

_TENTH = Decimal("0.1")
_SECOND = timedelta(seconds=1)


class ActiveTransaction(_Model):
    """The transaction running on the connector: which TxProfiles apply, and what Relative
    schedules count from."""

    transaction_id: str
    started_at: DateTime


class Limit(NamedTuple):
    """A limit in force: the rate in the asked unit and the phases the EV may use."""

    limit: Decimal
    number_phases: int


class CompositePeriod(_Model):
    """From `start_period` seconds into the window: `limit` (None: no profile limits it)."""

    start_period: int
    limit: Rate | None
    number_phases: int | None


class CompositeSchedule(_Model):
    """The limits of one connector/EVSE over [schedule_start, schedule_start + duration)."""

    connector_id: int
    schedule_start: DateTime
    duration: int
    rate_unit: RateUnit
    periods: tuple[CompositePeriod, ...] = Field(min_length=1)


def convert(
    limit: Decimal,
    unit: RateUnit,
    to: RateUnit,
    *,
    phases: int | None = None,
    voltage: Decimal | int = DEFAULT_VOLTAGE,
) -> Decimal:
    """`limit` in `unit` expressed in `to`: W = A x voltage x phases (3 when None), rounded
    down to a tenth so a converted limit never allows more than the original."""
    unit, to = RateUnit(unit), RateUnit(to)
    if unit is to:
        return limit
    per_amp = Decimal(voltage) * (phases or DEFAULT_PHASES)
    exact = limit * per_amp if to is RateUnit.W else limit / per_amp
    if exact == exact.to_integral_value():
        return exact.to_integral_value()
    return exact.quantize(_TENTH, rounding=ROUND_FLOOR)


def profile_limit_at(
    profile: ChargingProfile,
    at: datetime,
    *,
    rate_unit: RateUnit,
    relative_start: datetime,
    voltage: Decimal | int = DEFAULT_VOLTAGE,
) -> Limit | None:
    """The limit `profile` sets at `at` in `rate_unit`, or None when it is not in force then
    (outside its validity, before its schedules start or after their duration)."""
    if profile.valid_from is not None and at < profile.valid_from:
        return None
    if profile.valid_to is not None and at >= profile.valid_to:
        return None
    best: Limit | None = None
    for schedule in profile.schedules:
        found = _schedule_limit(profile, schedule, at, rate_unit, relative_start, voltage)
        if found is not None and (best is None or found.limit > best.limit):
            best = found
    return best


def concerns(
    profile: ChargingProfile, connector_id: int, transaction: ActiveTransaction | None
) -> bool:
    """Whether `profile` can limit `connector_id` (0: the station as a whole) while
    `transaction` runs there (None: no transaction)."""
    purpose, target = profile.purpose, profile.connector_id
    if purpose is ProfilePurpose.STATION_MAX:
        return target == STATION
    if purpose is ProfilePurpose.EXTERNAL_CONSTRAINTS:
        return target in (STATION, connector_id)
    if connector_id == STATION:
        # TxDefault on 0 applies to each connector alone, never to their sum.
        return False
    if purpose is ProfilePurpose.TX_DEFAULT:
        return target in (STATION, connector_id)
    return (
        target == connector_id
        and transaction is not None
        # A TxProfile sent with RemoteStart has no transactionId: it is the started one's.
        and profile.transaction_id in (None, transaction.transaction_id)
    )


def limit_at(
    profiles: Iterable[ChargingProfile],
    at: datetime,
    *,
    connector_id: int,
    rate_unit: RateUnit,
    transaction: ActiveTransaction | None = None,
    relative_start: datetime | None = None,
    voltage: Decimal | int = DEFAULT_VOLTAGE,
) -> Limit | None:
    """The composite limit of `connector_id` at `at` (None: nothing limits it). Relative
    schedules count from the transaction's start, else from `relative_start` (default `at`)."""
    at = _utc(at)
    anchor = _relative_start(transaction, relative_start or at)
    best: dict[ProfilePurpose, tuple[tuple[int, int], Limit]] = {}
    for profile in profiles:
        if not concerns(profile, connector_id, transaction):
            continue
        found = profile_limit_at(
            profile, at, rate_unit=rate_unit, relative_start=anchor, voltage=voltage
        )
        if found is None:
            continue
        # Highest stack level; at a tie, the connector's own TxDefault over connector 0's
        # (then the lower limit, though installed profiles should never tie).
        rank = (profile.stack_level, 0 if profile.connector_id == STATION else 1)
        held = best.get(profile.purpose)
        if held is None or rank > held[0] or (rank == held[0] and found.limit < held[1].limit):
            best[profile.purpose] = (rank, found)
    tx = best.get(ProfilePurpose.TX) or best.get(ProfilePurpose.TX_DEFAULT)
    caps = [best.get(ProfilePurpose.STATION_MAX), best.get(ProfilePurpose.EXTERNAL_CONSTRAINTS)]
    limits = [held[1] for held in (*caps, tx) if held is not None]
    if not limits:
        return None
    return Limit(
        limit=min(one.limit for one in limits),
        number_phases=min(one.number_phases for one in limits),
    )


def composite_schedule(
    profiles: Iterable[ChargingProfile],
    *,
    connector_id: int,
    start: datetime,
    duration: int,
    rate_unit: RateUnit,
    transaction: ActiveTransaction | None = None,
    voltage: Decimal | int = DEFAULT_VOLTAGE,
) -> CompositeSchedule:
    """The composite schedule of `connector_id` for `duration` seconds from `start`."""
    if duration <= 0:
        raise ValueError("a composite schedule covers at least one second")
    start, rate_unit = _utc(start), RateUnit(rate_unit)
    end = start + timedelta(seconds=duration)
    relevant = [p for p in profiles if concerns(p, connector_id, transaction)]
    anchor = _relative_start(transaction, start)
    offsets = {0}
    for profile in relevant:
        for instant in _changes(profile, start, end, anchor):
            if start < instant < end:
                offsets.add(_whole_seconds_after(start, instant))
    periods: list[CompositePeriod] = []
    for offset in sorted(offsets):
        if offset >= duration:
            continue
        found = limit_at(
            relevant,
            start + timedelta(seconds=offset),
            connector_id=connector_id,
            rate_unit=rate_unit,
            transaction=transaction,
            relative_start=anchor,
            voltage=voltage,
        )
        limit, phases = (None, None) if found is None else found
        if periods and (periods[-1].limit, periods[-1].number_phases) == (limit, phases):
            continue
        periods.append(CompositePeriod(start_period=offset, limit=limit, number_phases=phases))
    return CompositeSchedule(
        connector_id=connector_id,
        schedule_start=start,
        duration=duration,
        rate_unit=rate_unit,
        periods=tuple(periods),
    )


def _schedule_limit(
    profile: ChargingProfile,
    schedule: ChargingSchedule,
    at: datetime,
    rate_unit: RateUnit,
    relative_start: datetime,
    voltage: Decimal | int,
) -> Limit | None:
    elapsed = at - _anchor(profile, schedule, at, relative_start)
    if elapsed < timedelta(0):
        return None
    if schedule.duration is not None and elapsed >= timedelta(seconds=schedule.duration):
        return None
    running = None
    for period in schedule.periods:
        if timedelta(seconds=period.start_period) > elapsed:
            break
        running = period
    if running is None:
        return None
    phases = running.number_phases or DEFAULT_PHASES
    limit = convert(running.limit, schedule.rate_unit, rate_unit, phases=phases, voltage=voltage)
    return Limit(limit=limit, number_phases=phases)


def _anchor(
    profile: ChargingProfile, schedule: ChargingSchedule, at: datetime, relative_start: datetime
) -> datetime:
    """When the run of `schedule` in force at `at` started."""
    start = schedule.start_schedule
    if profile.kind is ProfileKind.RELATIVE or start is None:
        return relative_start
    if profile.kind is ProfileKind.RECURRING and profile.recurrency_kind is not None:
        every = RECURRENCE[profile.recurrency_kind]
        return start + every * ((at - start) // every)
    return start


def _changes(
    profile: ChargingProfile, start: datetime, end: datetime, relative_start: datetime
) -> Iterator[datetime]:
    """Every instant in [start, end] at which what `profile` sets may change."""
    if profile.valid_from is not None:
        yield profile.valid_from
    if profile.valid_to is not None:
        yield profile.valid_to
    for schedule in profile.schedules:
        for anchor in _anchors(profile, schedule, start, end, relative_start):
            for period in schedule.periods:
                yield anchor + timedelta(seconds=period.start_period)
            if schedule.duration is not None:
                yield anchor + timedelta(seconds=schedule.duration)


def _anchors(
    profile: ChargingProfile,
    schedule: ChargingSchedule,
    start: datetime,
    end: datetime,
    relative_start: datetime,
) -> Iterator[datetime]:
    """The starts of `schedule`'s runs that can reach into [start, end]."""
    first = _anchor(profile, schedule, start, relative_start)
    yield first
    if profile.kind is ProfileKind.RECURRING and profile.recurrency_kind is not None:
        every = RECURRENCE[profile.recurrency_kind]
        anchor = first + every
        while anchor <= end:
            yield anchor
            anchor += every


def _whole_seconds_after(start: datetime, instant: datetime) -> int:
    """The whole seconds from `start` to `instant`, rounded up."""
    return -((start - instant) // _SECOND)


def _relative_start(transaction: ActiveTransaction | None, otherwise: datetime) -> datetime:
    return transaction.started_at if transaction is not None else _utc(otherwise)


def _utc(at: datetime) -> datetime:
    # A time without an offset is UTC, as everywhere in the suite (`ocpp._base.DateTime`).
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

"""A charging profile spelt for each version, and read back: the edge of the charging package.

`to_v16` / `to_v201` give the `csChargingProfiles` / `chargingProfile` datatypes of the
generated models (and `*_request` the whole SetChargingProfile request); `from_v16` /
`from_v201` read one back, from a request the CSMS recorded, a 1.6 RemoteStartTransaction or
a 2.0.1 ReportChargingProfiles. `composite_from_v16` / `composite_from_v201` read a station's
GetCompositeSchedule answer. Times go out as the models write them: UTC with a `Z`.

Going out, what a version cannot say is refused (`ValueError`) rather than dropped: several
schedules or a phaseToUse for 1.6, a 1.6 transaction id that is not an integer,
ExternalConstraints for 1.6. A schedule without an id gets its position (1, 2, 3) for 2.0.1.
Coming in, a rate with more digits than OCPP's one decimal is read at the tenth below it, so a
station's report never reads as allowing more than it does; salesTariff and customData are not
kept.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import TypeVar, overload

from ..ocpp import v16, v201
from .composite import CompositePeriod, CompositeSchedule
from .profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
)

__all__ = [
    "composite_from_v16",
    "composite_from_v201",
    "from_v16",
    "from_v16_request",
    "from_v201",
    "from_v201_report",
    "from_v201_request",
    "to_v16",
    "to_v16_request",
    "to_v201",
    "to_v201_request",
]

_TENTH = Decimal("0.1")
_E = TypeVar("_E", bound=StrEnum)

_V16_PURPOSES = {
    ProfilePurpose.STATION_MAX: v16.ChargingProfilePurposeType.CHARGE_POINT_MAX_PROFILE,
    ProfilePurpose.TX_DEFAULT: v16.ChargingProfilePurposeType.TX_DEFAULT_PROFILE,
    ProfilePurpose.TX: v16.ChargingProfilePurposeType.TX_PROFILE,
}
_V201_PURPOSES = {
    ProfilePurpose.STATION_MAX: v201.ChargingProfilePurposeEnum.CHARGING_STATION_MAX_PROFILE,
    ProfilePurpose.TX_DEFAULT: v201.ChargingProfilePurposeEnum.TX_DEFAULT_PROFILE,
    ProfilePurpose.TX: v201.ChargingProfilePurposeEnum.TX_PROFILE,
    ProfilePurpose.EXTERNAL_CONSTRAINTS: (
        v201.ChargingProfilePurposeEnum.CHARGING_STATION_EXTERNAL_CONSTRAINTS
    ),
}
_FROM_V16 = {wire: ours for ours, wire in _V16_PURPOSES.items()}
_FROM_V201 = {wire: ours for ours, wire in _V201_PURPOSES.items()}


# --- 1.6 --------------------------------------------------------------------------------------


def to_v16(profile: ChargingProfile) -> v16.ChargingProfile:
    """`profile` as 1.6's csChargingProfiles (SetChargingProfile, RemoteStartTransaction)."""
    if len(profile.schedules) != 1:
        raise ValueError("1.6 takes exactly one charging schedule")
    purpose = _V16_PURPOSES.get(profile.purpose)
    if purpose is None:
        raise ValueError(f"1.6 has no {profile.purpose} purpose")
    try:
        tx = None if profile.transaction_id is None else int(profile.transaction_id)
    except ValueError:
        raise ValueError("a 1.6 transaction id is an integer") from None
    (schedule,) = profile.schedules
    return v16.ChargingProfile(
        charging_profile_id=profile.id,
        stack_level=profile.stack_level,
        charging_profile_purpose=purpose,
        charging_profile_kind=v16.ChargingProfileKindType(profile.kind.value),
        charging_schedule=v16.ChargingSchedule(
            charging_rate_unit=v16.ChargingRateUnitType(schedule.rate_unit.value),
            charging_schedule_period=[_period_v16(period) for period in schedule.periods],
            duration=schedule.duration,
            start_schedule=schedule.start_schedule,
            min_charging_rate=_float(schedule.min_charging_rate),
        ),
        transaction_id=tx,
        recurrency_kind=_enum(v16.RecurrencyKindType, profile.recurrency_kind),
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
    )


def to_v16_request(profile: ChargingProfile) -> v16.SetChargingProfileRequest:
    """The 1.6 SetChargingProfile.req that installs `profile` on its connector."""
    return v16.SetChargingProfileRequest(
        connector_id=profile.connector_id, cs_charging_profiles=to_v16(profile)
    )


def from_v16(profile: v16.ChargingProfile, connector_id: int) -> ChargingProfile:
    """A 1.6 csChargingProfiles for `connector_id` (0: the charge point) in the suite's terms."""
    schedule = profile.charging_schedule
    tx = profile.transaction_id
    return ChargingProfile(
        id=profile.charging_profile_id,
        stack_level=profile.stack_level,
        purpose=_FROM_V16[profile.charging_profile_purpose],
        kind=ProfileKind(profile.charging_profile_kind.value),
        recurrency_kind=_enum(RecurrencyKind, profile.recurrency_kind),
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        transaction_id=None if tx is None else str(tx),
        connector_id=connector_id,
        schedules=(
            ChargingSchedule(
                start_schedule=schedule.start_schedule,
                duration=schedule.duration,
                rate_unit=RateUnit(schedule.charging_rate_unit.value),
                min_charging_rate=_rate(schedule.min_charging_rate),
                periods=tuple(
                    SchedulePeriod(
                        start_period=period.start_period,
                        limit=_rate(period.limit),
                        number_phases=period.number_phases,
                    )
                    for period in schedule.charging_schedule_period
                ),
            ),
        ),
    )


def from_v16_request(request: v16.SetChargingProfileRequest) -> ChargingProfile:
    """The profile a 1.6 SetChargingProfile.req installs."""
    return from_v16(request.cs_charging_profiles, request.connector_id)


def composite_from_v16(
    response: v16.GetCompositeScheduleResponse, asked: v16.GetCompositeScheduleRequest
) -> CompositeSchedule | None:
    """A 1.6 GetCompositeSchedule.conf to the request `asked`; None unless it gave a schedule
    placed in time (scheduleStart, or the schedule's startSchedule)."""
    schedule = response.charging_schedule
    if schedule is None:
        return None
    start = response.schedule_start or schedule.start_schedule
    if start is None:
        return None
    return CompositeSchedule(
        connector_id=asked.connector_id if response.connector_id is None else response.connector_id,
        schedule_start=start,
        duration=asked.duration if schedule.duration is None else schedule.duration,
        rate_unit=RateUnit(schedule.charging_rate_unit.value),
        periods=tuple(
            CompositePeriod(
                start_period=period.start_period,
                limit=_rate(period.limit),
                number_phases=period.number_phases,
            )
            for period in schedule.charging_schedule_period
        ),
    )


def _period_v16(period: SchedulePeriod) -> v16.ChargingSchedulePeriod:
    if period.phase_to_use is not None:
        raise ValueError("1.6 has no phaseToUse")
    return v16.ChargingSchedulePeriod(
        start_period=period.start_period,
        limit=float(period.limit),
        number_phases=period.number_phases,
    )


# --- 2.0.1 ------------------------------------------------------------------------------------


def to_v201(profile: ChargingProfile) -> v201.ChargingProfile:
    """`profile` as 2.0.1's chargingProfile (SetChargingProfile, RequestStartTransaction)."""
    return v201.ChargingProfile(
        id=profile.id,
        stack_level=profile.stack_level,
        charging_profile_purpose=_V201_PURPOSES[profile.purpose],
        charging_profile_kind=v201.ChargingProfileKindEnum(profile.kind.value),
        charging_schedule=[
            _schedule_v201(schedule, position)
            for position, schedule in enumerate(profile.schedules, start=1)
        ],
        recurrency_kind=_enum(v201.RecurrencyKindEnum, profile.recurrency_kind),
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        transaction_id=profile.transaction_id,
    )


def to_v201_request(profile: ChargingProfile) -> v201.SetChargingProfileRequest:
    """The 2.0.1 SetChargingProfileRequest that installs `profile` on its EVSE."""
    return v201.SetChargingProfileRequest(
        evse_id=profile.connector_id, charging_profile=to_v201(profile)
    )


def from_v201(profile: v201.ChargingProfile, evse_id: int) -> ChargingProfile:
    """A 2.0.1 chargingProfile for `evse_id` (0: the station) in the suite's terms."""
    return ChargingProfile(
        id=profile.id,
        stack_level=profile.stack_level,
        purpose=_FROM_V201[profile.charging_profile_purpose],
        kind=ProfileKind(profile.charging_profile_kind.value),
        recurrency_kind=_enum(RecurrencyKind, profile.recurrency_kind),
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        transaction_id=profile.transaction_id,
        connector_id=evse_id,
        schedules=tuple(
            ChargingSchedule(
                id=schedule.id,
                start_schedule=schedule.start_schedule,
                duration=schedule.duration,
                rate_unit=RateUnit(schedule.charging_rate_unit.value),
                min_charging_rate=_rate(schedule.min_charging_rate),
                periods=tuple(_period_from_v201(p) for p in schedule.charging_schedule_period),
            )
            for schedule in profile.charging_schedule
        ),
    )


def from_v201_request(request: v201.SetChargingProfileRequest) -> ChargingProfile:
    """The profile a 2.0.1 SetChargingProfileRequest installs."""
    return from_v201(request.charging_profile, request.evse_id)


def from_v201_report(report: v201.ReportChargingProfilesRequest) -> list[ChargingProfile]:
    """The profiles one ReportChargingProfilesRequest (an answer to GetChargingProfiles) lists."""
    return [from_v201(profile, report.evse_id) for profile in report.charging_profile]


def composite_from_v201(response: v201.GetCompositeScheduleResponse) -> CompositeSchedule | None:
    """A 2.0.1 GetCompositeScheduleResponse's schedule; None when it gave none."""
    schedule = response.schedule
    if schedule is None:
        return None
    return CompositeSchedule(
        connector_id=schedule.evse_id,
        schedule_start=schedule.schedule_start,
        duration=schedule.duration,
        rate_unit=RateUnit(schedule.charging_rate_unit.value),
        periods=tuple(
            CompositePeriod(
                start_period=period.start_period,
                limit=_rate(period.limit),
                number_phases=period.number_phases,
            )
            for period in schedule.charging_schedule_period
        ),
    )


def _schedule_v201(schedule: ChargingSchedule, position: int) -> v201.ChargingSchedule:
    return v201.ChargingSchedule(
        id=position if schedule.id is None else schedule.id,
        charging_rate_unit=v201.ChargingRateUnitEnum(schedule.rate_unit.value),
        charging_schedule_period=[
            v201.ChargingSchedulePeriod(
                start_period=period.start_period,
                limit=float(period.limit),
                number_phases=period.number_phases,
                phase_to_use=period.phase_to_use,
            )
            for period in schedule.periods
        ],
        start_schedule=schedule.start_schedule,
        duration=schedule.duration,
        min_charging_rate=_float(schedule.min_charging_rate),
    )


def _period_from_v201(period: v201.ChargingSchedulePeriod) -> SchedulePeriod:
    return SchedulePeriod(
        start_period=period.start_period,
        limit=_rate(period.limit),
        number_phases=period.number_phases,
        phase_to_use=period.phase_to_use,
    )


# --- both -------------------------------------------------------------------------------------


@overload
def _rate(value: float) -> Decimal: ...
@overload
def _rate(value: None) -> None: ...
def _rate(value: float | None) -> Decimal | None:
    if value is None:
        return None
    exact = Decimal(repr(value))  # the shortest text that is the float: 8.1, not 8.0999...
    if exact == exact.to_integral_value():
        return exact
    return exact.quantize(_TENTH, rounding=ROUND_FLOOR)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _enum(kind: type[_E], value: StrEnum | None) -> _E | None:
    """The member of `kind` spelt as `value` (the versions and the suite spell them alike)."""
    return None if value is None else kind(value.value)

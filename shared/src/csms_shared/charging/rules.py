"""OCPP's rules for a charging profile the CSMS sends, per version, as a list of problems.

`validate` checks one profile on its own (1.6 §3.13 and §5.16; 2.0.1 use case K01); `conflicts`
and `replaced` check it against what the station already holds (2.0.1 refuses a second profile
at the same purpose and stack level, 1.6 replaces it). Every problem names the field (the
profile's camelCase path, as a REST body spells it) and the rule, so an operator can fix the
profile without reading the spec. What only the station knows (its EVSEs, its supported rate
units and phase switching, ChargingScheduleMaxPeriods, whether the transaction is still on)
is left to the station's answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ..ocpp._fields import INT64_MAX, INT64_MIN
from ..ocpp.version import OcppVersion
from .profiles import (
    RECURRENCE,
    STATION,
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
)

__all__ = [
    "InvalidProfile",
    "ProfileProblem",
    "ProfileUse",
    "check",
    "conflicts",
    "replaced",
    "validate",
]

V16, V201 = OcppVersion.V16, OcppVersion.V201

# 2.0.1's schema: chargingSchedulePeriod has maxItems 1024, transactionId is a string[36].
_MAX_PERIODS_V201 = 1024
_MAX_TRANSACTION_ID_V201 = 36


class ProfileUse(StrEnum):
    """Which message carries the profile: what the transactionId and purpose may be differs."""

    SET_CHARGING_PROFILE = "SetChargingProfile"
    # 1.6 RemoteStartTransaction / 2.0.1 RequestStartTransaction: for a transaction to come.
    REMOTE_START = "RemoteStart"


class ProfileProblem(BaseModel):
    """One broken rule: the field (camelCase path), the rule (spec reference) and what is wrong."""

    model_config = ConfigDict(frozen=True)

    field: str
    rule: str
    message: str


class InvalidProfile(ValueError):
    """A profile that breaks OCPP's rules for the version it is meant for."""

    def __init__(self, problems: list[ProfileProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message} ({p.rule})" for p in problems))


def check(
    profile: ChargingProfile,
    version: OcppVersion,
    use: ProfileUse = ProfileUse.SET_CHARGING_PROFILE,
) -> ChargingProfile:
    """`profile` when it keeps every rule of `validate`; `InvalidProfile` otherwise."""
    problems = validate(profile, version, use)
    if problems:
        raise InvalidProfile(problems)
    return profile


def validate(
    profile: ChargingProfile,
    version: OcppVersion,
    use: ProfileUse = ProfileUse.SET_CHARGING_PROFILE,
) -> list[ProfileProblem]:
    """Every rule of `version` that `profile`, carried by `use`, breaks (empty: none)."""
    found = _Found(OcppVersion(version))
    use = ProfileUse(use)
    _identity(profile, found)
    _purpose(profile, use, found)
    _transaction(profile, use, found)
    _kind(profile, found)
    for index, schedule in enumerate(profile.schedules):
        _schedule(profile, schedule, f"schedules[{index}]", found)
    return found.problems


def conflicts(
    profile: ChargingProfile, installed: Iterable[ChargingProfile], version: OcppVersion
) -> list[ProfileProblem]:
    """What a 2.0.1 station would refuse `profile` for, given the profiles it holds on the
    same station (1.6 replaces such profiles instead: see `replaced`)."""
    if OcppVersion(version) is not V201:
        return []
    found = _Found(V201)
    for other in installed:
        if other.id == profile.id or other.purpose is not profile.purpose:
            continue
        if other.stack_level != profile.stack_level:
            continue
        if profile.purpose is ProfilePurpose.TX:
            if other.transaction_id == profile.transaction_id:
                found.add(
                    "stackLevel",
                    "K01.FR.39",
                    f"profile {other.id} has this stack level for this transaction",
                )
        elif other.connector_id == profile.connector_id and _overlap(profile, other):
            found.add(
                "stackLevel",
                "K01.FR.06",
                f"profile {other.id} has this purpose and stack level on this target "
                "for an overlapping validity",
            )
    return found.problems


def replaced(
    profile: ChargingProfile, installed: Iterable[ChargingProfile], version: OcppVersion
) -> list[ChargingProfile]:
    """The installed profiles that `profile` replaces once the station accepts it: the one with
    its id (1.6 §5.16, 2.0.1 K01.FR.05) and, in 1.6, the one with its purpose and stack level
    on the same connector (for a TxProfile, of the same transaction)."""
    version = OcppVersion(version)
    out = []
    for other in installed:
        if other.id == profile.id:
            out.append(other)
        elif (
            version is V16
            and other.purpose is profile.purpose
            and other.stack_level == profile.stack_level
            and other.connector_id == profile.connector_id
            and (
                profile.purpose is not ProfilePurpose.TX
                or other.transaction_id == profile.transaction_id
            )
        ):
            out.append(other)
    return out


class _Found:
    """The problems found so far, and the version whose rules are checked."""

    def __init__(self, version: OcppVersion) -> None:
        self.version = version
        self.problems: list[ProfileProblem] = []

    def add(self, field: str, rule: str, message: str) -> None:
        self.problems.append(ProfileProblem(field=field, rule=rule, message=message))

    def rule(self, v16: str, v201: str) -> str:
        """The reference of one rule in the checked version."""
        return v16 if self.version is V16 else v201


def _identity(profile: ChargingProfile, found: _Found) -> None:
    if profile.id <= 0:
        # The suite's rule, not OCPP's: a stored profile is named by a positive id.
        found.add("id", "suite: ids are positive", "the profile id must be 1 or more")
    if profile.stack_level < 0:
        rule = found.rule("1.6 ChargingProfile.stackLevel", "2.0.1 ChargingProfileType.stackLevel")
        found.add("stackLevel", rule, "the lowest stack level is 0")
    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_to <= profile.valid_from
    ):
        found.add("validTo", "suite: a validity is not empty", "validTo must be after validFrom")


def _purpose(profile: ChargingProfile, use: ProfileUse, found: _Found) -> None:
    purpose, target = profile.purpose, profile.connector_id
    if use is ProfileUse.REMOTE_START and purpose is not ProfilePurpose.TX:
        rule = found.rule(
            "1.6 §5.11 RemoteStartTransaction", "2.0.1 RequestStartTransactionRequest"
        )
        found.add("purpose", rule, "a profile sent to start a transaction must be a TxProfile")
    if purpose is ProfilePurpose.EXTERNAL_CONSTRAINTS:
        if found.version is V16:
            found.add("purpose", "1.6 ChargingProfilePurposeType", "1.6 has no such purpose")
        else:
            found.add(
                "purpose",
                "2.0.1 ChargingProfilePurposeEnumType",
                "ChargingStationExternalConstraints is set by a local system, never by the CSMS",
            )
    elif purpose is ProfilePurpose.STATION_MAX:
        if target != STATION:
            rule = found.rule("1.6 §3.13.1", "2.0.1 SetChargingProfileRequest.evseId")
            found.add("connectorId", rule, "a station maximum profile applies to target 0 only")
        if found.version is V201 and profile.kind is ProfileKind.RELATIVE:
            found.add("kind", "K01.FR.38", "a ChargingStationMaxProfile cannot be Relative")
    elif purpose is ProfilePurpose.TX and target == STATION:
        rule = found.rule("1.6 §3.13.1", "K01.FR.16")
        found.add("connectorId", rule, "a TxProfile applies to one connector/EVSE (1 or more)")
    if len(profile.schedules) > 1:
        if found.version is V16:
            found.add("schedules", "1.6 ChargingProfile.chargingSchedule", "1.6 takes one schedule")
        elif purpose is not ProfilePurpose.TX:
            found.add(
                "schedules",
                "2.0.1 ChargingProfileType.chargingSchedule",
                "only a TxProfile may offer several schedules (ISO 15118)",
            )


def _transaction(profile: ChargingProfile, use: ProfileUse, found: _Found) -> None:
    tx = profile.transaction_id
    if profile.purpose is not ProfilePurpose.TX:
        if tx is not None:
            rule = found.rule(
                "1.6 ChargingProfile.transactionId", "2.0.1 ChargingProfileType.transactionId"
            )
            found.add("transactionId", rule, "only a TxProfile names a transaction")
        return
    if use is ProfileUse.REMOTE_START:
        if tx is not None:
            rule = found.rule(
                "1.6 §5.11 RemoteStartTransaction", "2.0.1 RequestStartTransactionRequest"
            )
            found.add("transactionId", rule, "the transaction does not exist yet: leave it out")
        return
    if tx is None:
        rule = found.rule("1.6 §5.16", "K01.FR.03")
        found.add("transactionId", rule, "a TxProfile names its transaction")
    elif found.version is V16 and not _int64(tx):
        found.add(
            "transactionId", "1.6 ChargingProfile.transactionId", "1.6 transaction ids are integers"
        )
    elif found.version is V201 and not 0 < len(tx) <= _MAX_TRANSACTION_ID_V201:
        found.add(
            "transactionId",
            "2.0.1 ChargingProfileType.transactionId",
            f"a transaction id has 1 to {_MAX_TRANSACTION_ID_V201} characters",
        )


def _kind(profile: ChargingProfile, found: _Found) -> None:
    recurring = profile.kind is ProfileKind.RECURRING
    if recurring and profile.recurrency_kind is None:
        rule = found.rule("1.6 RecurrencyKindType", "2.0.1 RecurrencyKindEnumType")
        found.add("recurrencyKind", rule, "a Recurring profile recurs Daily or Weekly")
    if not recurring and profile.recurrency_kind is not None:
        found.add(
            "recurrencyKind",
            "suite: recurrencyKind only with Recurring",
            f"{profile.kind} profiles do not recur",
        )


def _schedule(profile: ChargingProfile, schedule: ChargingSchedule, at: str, found: _Found) -> None:
    v201 = found.version is V201
    start = schedule.start_schedule
    if profile.kind is ProfileKind.RELATIVE:
        if start is not None:
            rule = found.rule("1.6 ChargingProfileKindType", "K01.FR.41")
            found.add(f"{at}.startSchedule", rule, "a Relative schedule has no startSchedule")
    elif start is None and (v201 or profile.kind is ProfileKind.RECURRING):
        # 1.6 reads an Absolute schedule without one as starting with the charging.
        rule = found.rule("1.6 RecurrencyKindType", "K01.FR.40")
        found.add(f"{at}.startSchedule", rule, f"{profile.kind} schedules need a startSchedule")
    if schedule.duration is not None:
        if schedule.duration <= 0:
            found.add(f"{at}.duration", "suite: a duration is positive", "at least 1 second")
        elif profile.recurrency_kind is not None and profile.kind is ProfileKind.RECURRING:
            period = RECURRENCE[profile.recurrency_kind].total_seconds()
            if schedule.duration > period:
                found.add(
                    f"{at}.duration",
                    "suite: a recurrence does not overlap itself",
                    f"a {profile.recurrency_kind} schedule lasts at most {int(period)} s",
                )
    if v201:
        if schedule.id is not None and schedule.id <= 0:
            found.add(f"{at}.id", "suite: ids are positive", "the schedule id must be 1 or more")
        ids = [s.id for s in profile.schedules if s.id is not None]
        if schedule.id is not None and ids.count(schedule.id) > 1:
            found.add(f"{at}.id", "suite: schedule ids are distinct", "another schedule has it")
        if len(schedule.periods) > _MAX_PERIODS_V201:
            found.add(
                f"{at}.periods",
                "2.0.1 ChargingScheduleType.chargingSchedulePeriod",
                f"at most {_MAX_PERIODS_V201} periods",
            )
    _periods(schedule, at, found)


def _periods(schedule: ChargingSchedule, at: str, found: _Found) -> None:
    v201 = found.version is V201
    previous: int | None = None
    for index, period in enumerate(schedule.periods):
        here = f"{at}.periods[{index}]"
        if index == 0 and period.start_period != 0:
            rule = found.rule("1.6 ChargingSchedulePeriod.startPeriod", "K01.FR.31")
            found.add(f"{here}.startPeriod", rule, "the first period starts at 0")
        if previous is not None and period.start_period <= previous:
            rule = found.rule("1.6 ChargingSchedulePeriod.startPeriod", "K01.FR.35")
            found.add(
                f"{here}.startPeriod", rule, "startPeriod must increase from period to period"
            )
        previous = period.start_period
        if period.number_phases is not None and not 1 <= period.number_phases <= 3:
            rule = found.rule(
                "1.6 ChargingSchedulePeriod.numberPhases",
                "2.0.1 ChargingSchedulePeriodType.numberPhases",
            )
            found.add(f"{here}.numberPhases", rule, "1, 2 or 3 phases")
        if period.phase_to_use is None:
            continue
        if not v201:
            found.add(f"{here}.phaseToUse", "1.6 ChargingSchedulePeriod", "1.6 has no phaseToUse")
            continue
        if not 1 <= period.phase_to_use <= 3:
            found.add(
                f"{here}.phaseToUse",
                "2.0.1 ChargingSchedulePeriodType.phaseToUse",
                "phase 1, 2 or 3",
            )
        if period.number_phases != 1:
            found.add(f"{here}.phaseToUse", "K01.FR.19", "phaseToUse needs numberPhases 1")


def _int64(text: str) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    # Written as 1.6 sends it: no sign but minus, no spaces, no leading zeros, no underscores.
    return str(value) == text and INT64_MIN <= value <= INT64_MAX


def _overlap(one: ChargingProfile, other: ChargingProfile) -> bool:
    """Whether the two profiles' validity periods [validFrom, validTo) share an instant."""
    return _before(one.valid_from, other.valid_to) and _before(other.valid_from, one.valid_to)


def _before(start: datetime | None, end: datetime | None) -> bool:
    return start is None or end is None or start < end

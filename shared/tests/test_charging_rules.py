"""OCPP's rules for a charging profile, per version: each rule broken alone, by field and rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    InvalidProfile,
    ProfileKind,
    ProfilePurpose,
    ProfileUse,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    check,
    conflicts,
    replaced,
    validate,
)
from csms_shared.ocpp.version import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201
BOTH = pytest.mark.parametrize("version", [V16, V201])
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def period(start: int = 0, limit: float = 16, **more: Any) -> SchedulePeriod:
    return SchedulePeriod(start_period=start, limit=limit, **more)


def schedule(*periods: SchedulePeriod, **more: Any) -> ChargingSchedule:
    fields: dict[str, Any] = {"start_schedule": T0, "rate_unit": RateUnit.A}
    fields.update(more)
    return ChargingSchedule(periods=periods or (period(),), **fields)


def profile(*schedules: ChargingSchedule, **more: Any) -> ChargingProfile:
    """A TxDefaultProfile on connector 1, Absolute: valid in both versions."""
    fields: dict[str, Any] = {
        "id": 1,
        "stack_level": 0,
        "purpose": ProfilePurpose.TX_DEFAULT,
        "kind": ProfileKind.ABSOLUTE,
        "connector_id": 1,
    }
    fields.update(more)
    fields.setdefault("schedules", schedules or (schedule(),))
    return ChargingProfile(**fields)


def tx_profile(**more: Any) -> ChargingProfile:
    fields: dict[str, Any] = {"purpose": ProfilePurpose.TX, "transaction_id": "42"}
    fields.update(more)
    return profile(**fields)


def broken(
    one: ChargingProfile, version: OcppVersion, use: ProfileUse = ProfileUse.SET_CHARGING_PROFILE
) -> set[tuple[str, str]]:
    return {(problem.field, problem.rule) for problem in validate(one, version, use)}


# --- valid profiles -----------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    "valid",
    [
        profile(),
        profile(connector_id=0),
        profile(purpose=ProfilePurpose.STATION_MAX, connector_id=0),
        tx_profile(),
        tx_profile(kind=ProfileKind.RELATIVE, schedules=(schedule(start_schedule=None),)),
        profile(
            kind=ProfileKind.RECURRING,
            recurrency_kind=RecurrencyKind.DAILY,
            schedules=(schedule(period(), period(3600, 8.1, number_phases=1), duration=86400),),
            valid_from=T0,
            valid_to=T0 + timedelta(days=30),
        ),
        profile(schedules=(schedule(min_charging_rate=6, rate_unit=RateUnit.W),)),
    ],
)
def test_profiles_that_keep_every_rule_have_no_problems(
    valid: ChargingProfile, version: OcppVersion
) -> None:
    assert validate(valid, version) == []
    assert check(valid, version) is valid


# --- the profile ------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("bad_id", [0, -3])
def test_a_profile_id_is_positive(bad_id: int, version: OcppVersion) -> None:
    assert broken(profile(id=bad_id), version) == {("id", "suite: ids are positive")}


@pytest.mark.parametrize(
    ("version", "rule"),
    [(V16, "1.6 ChargingProfile.stackLevel"), (V201, "2.0.1 ChargingProfileType.stackLevel")],
)
def test_the_lowest_stack_level_is_zero(version: OcppVersion, rule: str) -> None:
    assert broken(profile(stack_level=-1), version) == {("stackLevel", rule)}


@BOTH
def test_a_validity_ends_after_it_starts(version: OcppVersion) -> None:
    assert broken(profile(valid_from=T0, valid_to=T0), version) == {
        ("validTo", "suite: a validity is not empty")
    }


# --- purposes and targets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "rule"),
    [(V16, "1.6 §3.13.1"), (V201, "2.0.1 SetChargingProfileRequest.evseId")],
)
def test_a_station_maximum_applies_to_target_zero_only(version: OcppVersion, rule: str) -> None:
    one = profile(purpose=ProfilePurpose.STATION_MAX, connector_id=2)
    assert broken(one, version) == {("connectorId", rule)}


def test_a_2_0_1_station_maximum_is_not_relative_k01_fr_38() -> None:
    one = profile(
        purpose=ProfilePurpose.STATION_MAX,
        connector_id=0,
        kind=ProfileKind.RELATIVE,
        schedules=(schedule(start_schedule=None),),
    )
    assert broken(one, V201) == {("kind", "K01.FR.38")}
    assert broken(one, V16) == set()  # 1.6 sets no such rule


@pytest.mark.parametrize(("version", "rule"), [(V16, "1.6 §3.13.1"), (V201, "K01.FR.16")])
def test_a_tx_profile_applies_to_one_connector(version: OcppVersion, rule: str) -> None:
    assert broken(tx_profile(connector_id=0), version) == {("connectorId", rule)}


@pytest.mark.parametrize(("version", "rule"), [(V16, "1.6 §5.16"), (V201, "K01.FR.03")])
def test_a_tx_profile_names_its_transaction(version: OcppVersion, rule: str) -> None:
    assert broken(tx_profile(transaction_id=None), version) == {("transactionId", rule)}


@pytest.mark.parametrize(
    ("version", "rule"),
    [
        (V16, "1.6 ChargingProfile.transactionId"),
        (V201, "2.0.1 ChargingProfileType.transactionId"),
    ],
)
@pytest.mark.parametrize("purpose", [ProfilePurpose.TX_DEFAULT, ProfilePurpose.STATION_MAX])
def test_only_a_tx_profile_names_a_transaction(
    purpose: ProfilePurpose, version: OcppVersion, rule: str
) -> None:
    one = profile(purpose=purpose, connector_id=0, transaction_id="42")
    assert broken(one, version) == {("transactionId", rule)}


@pytest.mark.parametrize("tx", ["abc", "007", "+1", "1 ", str(2**63)])
def test_a_1_6_transaction_id_is_an_integer(tx: str) -> None:
    assert broken(tx_profile(transaction_id=tx), V16) == {
        ("transactionId", "1.6 ChargingProfile.transactionId")
    }
    assert broken(tx_profile(transaction_id="-7"), V16) == set()


@pytest.mark.parametrize("tx", ["", "x" * 37])
def test_a_2_0_1_transaction_id_has_1_to_36_characters(tx: str) -> None:
    assert broken(tx_profile(transaction_id=tx), V201) == {
        ("transactionId", "2.0.1 ChargingProfileType.transactionId")
    }
    assert broken(tx_profile(transaction_id="x" * 36), V201) == set()


@pytest.mark.parametrize(
    ("version", "rule"),
    [(V16, "1.6 ChargingProfilePurposeType"), (V201, "2.0.1 ChargingProfilePurposeEnumType")],
)
def test_the_csms_never_sets_external_constraints(version: OcppVersion, rule: str) -> None:
    one = profile(purpose=ProfilePurpose.EXTERNAL_CONSTRAINTS, connector_id=0)
    assert broken(one, version) == {("purpose", rule)}


# --- a profile sent to start a transaction ------------------------------------------------------

REMOTE = ProfileUse.REMOTE_START


@pytest.mark.parametrize(
    ("version", "rule"),
    [(V16, "1.6 §5.11 RemoteStartTransaction"), (V201, "2.0.1 RequestStartTransactionRequest")],
)
def test_a_remote_start_profile_is_a_tx_profile_without_its_transaction(
    version: OcppVersion, rule: str
) -> None:
    assert broken(tx_profile(transaction_id=None), version, REMOTE) == set()
    assert broken(tx_profile(), version, REMOTE) == {("transactionId", rule)}
    assert broken(profile(), version, REMOTE) == {("purpose", rule)}


# --- kinds and recurrence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "rule"),
    [(V16, "1.6 RecurrencyKindType"), (V201, "2.0.1 RecurrencyKindEnumType")],
)
def test_a_recurring_profile_says_how_it_recurs(version: OcppVersion, rule: str) -> None:
    assert broken(profile(kind=ProfileKind.RECURRING), version) == {("recurrencyKind", rule)}


@BOTH
def test_only_a_recurring_profile_has_a_recurrency_kind(version: OcppVersion) -> None:
    one = profile(recurrency_kind=RecurrencyKind.WEEKLY)
    assert broken(one, version) == {("recurrencyKind", "suite: recurrencyKind only with Recurring")}


@pytest.mark.parametrize(
    ("version", "rule"), [(V16, "1.6 ChargingProfileKindType"), (V201, "K01.FR.41")]
)
def test_a_relative_schedule_has_no_start(version: OcppVersion, rule: str) -> None:
    one = tx_profile(kind=ProfileKind.RELATIVE)
    assert broken(one, version) == {("schedules[0].startSchedule", rule)}


def test_an_absolute_schedule_needs_a_start_in_2_0_1_only_k01_fr_40() -> None:
    one = profile(schedules=(schedule(start_schedule=None),))
    assert broken(one, V201) == {("schedules[0].startSchedule", "K01.FR.40")}
    # 1.6: "If absent the schedule will be relative to start of charging."
    assert broken(one, V16) == set()


@pytest.mark.parametrize(
    ("version", "rule"), [(V16, "1.6 RecurrencyKindType"), (V201, "K01.FR.40")]
)
def test_a_recurring_schedule_needs_a_start(version: OcppVersion, rule: str) -> None:
    one = profile(
        kind=ProfileKind.RECURRING,
        recurrency_kind=RecurrencyKind.DAILY,
        schedules=(schedule(start_schedule=None),),
    )
    assert broken(one, version) == {("schedules[0].startSchedule", rule)}


@BOTH
def test_a_recurring_schedule_lasts_at_most_its_recurrence(version: OcppVersion) -> None:
    def recurring(kind: RecurrencyKind, duration: int) -> ChargingProfile:
        return profile(
            kind=ProfileKind.RECURRING,
            recurrency_kind=kind,
            schedules=(schedule(duration=duration),),
        )

    rule = ("schedules[0].duration", "suite: a recurrence does not overlap itself")
    assert broken(recurring(RecurrencyKind.DAILY, 86401), version) == {rule}
    assert broken(recurring(RecurrencyKind.WEEKLY, 86401), version) == set()
    assert broken(recurring(RecurrencyKind.WEEKLY, 7 * 86400 + 1), version) == {rule}


@BOTH
@pytest.mark.parametrize("duration", [0, -60])
def test_a_duration_is_positive(duration: int, version: OcppVersion) -> None:
    one = profile(schedules=(schedule(duration=duration),))
    assert broken(one, version) == {("schedules[0].duration", "suite: a duration is positive")}


# --- schedules --------------------------------------------------------------------------------


def test_1_6_takes_one_schedule() -> None:
    two = tx_profile(schedules=(schedule(id=1), schedule(id=2)))
    assert broken(two, V16) == {("schedules", "1.6 ChargingProfile.chargingSchedule")}


def test_2_0_1_offers_several_schedules_in_a_tx_profile_only() -> None:
    two = (schedule(id=1), schedule(id=2), schedule(id=3))
    assert broken(tx_profile(schedules=two), V201) == set()
    assert broken(profile(schedules=two), V201) == {
        ("schedules", "2.0.1 ChargingProfileType.chargingSchedule")
    }


def test_2_0_1_schedule_ids_are_positive_and_distinct() -> None:
    assert broken(profile(schedules=(schedule(id=0),)), V201) == {
        ("schedules[0].id", "suite: ids are positive")
    }
    same = tx_profile(schedules=(schedule(id=4), schedule(id=4)))
    assert broken(same, V201) == {
        ("schedules[0].id", "suite: schedule ids are distinct"),
        ("schedules[1].id", "suite: schedule ids are distinct"),
    }
    # 1.6 has no schedule ids: an id kept for a 2.0.1 station is no problem there.
    assert broken(profile(schedules=(schedule(id=0),)), V16) == set()


def test_2_0_1_takes_at_most_1024_periods() -> None:
    many = profile(schedules=(schedule(*(period(60 * i) for i in range(1025))),))
    assert broken(many, V201) == {
        ("schedules[0].periods", "2.0.1 ChargingScheduleType.chargingSchedulePeriod")
    }
    assert broken(many, V16) == set()


# --- periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "rule"), [(V16, "1.6 ChargingSchedulePeriod.startPeriod"), (V201, "K01.FR.31")]
)
def test_the_first_period_starts_at_zero(version: OcppVersion, rule: str) -> None:
    one = profile(schedules=(schedule(period(60), period(120)),))
    assert broken(one, version) == {("schedules[0].periods[0].startPeriod", rule)}


@pytest.mark.parametrize(
    ("version", "rule"), [(V16, "1.6 ChargingSchedulePeriod.startPeriod"), (V201, "K01.FR.35")]
)
@pytest.mark.parametrize("second", [0, 3600])
def test_periods_start_strictly_one_after_the_other(
    second: int, version: OcppVersion, rule: str
) -> None:
    one = profile(schedules=(schedule(period(0), period(3600), period(second)),))
    assert broken(one, version) == {("schedules[0].periods[2].startPeriod", rule)}


@pytest.mark.parametrize(
    ("version", "rule"),
    [
        (V16, "1.6 ChargingSchedulePeriod.numberPhases"),
        (V201, "2.0.1 ChargingSchedulePeriodType.numberPhases"),
    ],
)
@pytest.mark.parametrize("phases", [0, 4])
def test_a_period_uses_one_to_three_phases(phases: int, version: OcppVersion, rule: str) -> None:
    one = profile(schedules=(schedule(period(number_phases=phases)),))
    assert broken(one, version) == {("schedules[0].periods[0].numberPhases", rule)}


def test_1_6_has_no_phase_to_use() -> None:
    one = profile(schedules=(schedule(period(number_phases=1, phase_to_use=2)),))
    assert broken(one, V16) == {
        ("schedules[0].periods[0].phaseToUse", "1.6 ChargingSchedulePeriod")
    }
    assert broken(one, V201) == set()


@pytest.mark.parametrize("phases", [None, 2, 3])
def test_2_0_1_phase_to_use_needs_one_phase_k01_fr_19(phases: int | None) -> None:
    one = profile(schedules=(schedule(period(number_phases=phases, phase_to_use=1)),))
    assert broken(one, V201) == {("schedules[0].periods[0].phaseToUse", "K01.FR.19")}


def test_2_0_1_phase_to_use_is_a_phase() -> None:
    one = profile(schedules=(schedule(period(number_phases=1, phase_to_use=4)),))
    assert broken(one, V201) == {
        ("schedules[0].periods[0].phaseToUse", "2.0.1 ChargingSchedulePeriodType.phaseToUse")
    }


def test_every_broken_rule_is_reported_and_check_raises_them() -> None:
    one = tx_profile(
        id=0,
        connector_id=0,
        transaction_id=None,
        schedules=(schedule(period(30), period(10, number_phases=5)),),
    )
    fields = {problem.field for problem in validate(one, V201)}
    assert fields == {
        "id",
        "connectorId",
        "transactionId",
        "schedules[0].periods[0].startPeriod",
        "schedules[0].periods[1].startPeriod",
        "schedules[0].periods[1].numberPhases",
    }
    with pytest.raises(InvalidProfile) as raised:
        check(one, V201)
    assert raised.value.problems == validate(one, V201)
    assert "connectorId: a TxProfile applies to one connector/EVSE" in str(raised.value)


# --- what the model itself refuses ------------------------------------------------------------


@pytest.mark.parametrize("limit", [8.15, -1, "16", True, float("inf"), Decimal("NaN")])
def test_a_rate_is_a_non_negative_number_with_one_decimal(limit: Any) -> None:
    with pytest.raises(ValidationError):
        SchedulePeriod(start_period=0, limit=limit)
    with pytest.raises(ValidationError):
        schedule(min_charging_rate=limit)


def test_a_rate_reads_a_float_as_written() -> None:
    assert SchedulePeriod(start_period=0, limit=8.1).limit == Decimal("8.1")
    assert SchedulePeriod.model_validate_json('{"startPeriod": 0, "limit": 0.3}').limit == Decimal(
        "0.3"
    )


@pytest.mark.parametrize("count", [0, 4])
def test_a_profile_has_one_to_three_schedules(count: int) -> None:
    with pytest.raises(ValidationError):
        ChargingProfile(
            id=1,
            stack_level=0,
            purpose=ProfilePurpose.TX,
            kind=ProfileKind.ABSOLUTE,
            connector_id=1,
            schedules=tuple(schedule(id=i + 1) for i in range(count)),
        )


def test_a_schedule_has_a_period_and_a_target_is_not_negative() -> None:
    with pytest.raises(ValidationError):
        ChargingSchedule(rate_unit=RateUnit.A, periods=())
    with pytest.raises(ValidationError):
        profile(connector_id=-1)


# --- against what the station holds -----------------------------------------------------------


def test_2_0_1_refuses_a_second_profile_at_the_same_purpose_level_and_target_k01_fr_06() -> None:
    held = profile(id=1, valid_to=T0 + timedelta(days=1))
    clash = profile(id=2, valid_from=T0)
    assert [(p.field, p.rule) for p in conflicts(clash, [held], V201)] == [
        ("stackLevel", "K01.FR.06")
    ]
    assert conflicts(profile(id=2, valid_from=T0 + timedelta(days=1)), [held], V201) == []
    assert conflicts(profile(id=2, connector_id=2), [held], V201) == []
    assert conflicts(profile(id=2, stack_level=1), [held], V201) == []
    assert conflicts(profile(id=1, valid_from=T0), [held], V201) == []  # same id: replaced
    assert conflicts(clash, [held], V16) == []  # 1.6 replaces it


def test_2_0_1_refuses_a_second_tx_profile_at_the_same_level_for_a_transaction_k01_fr_39() -> None:
    held = tx_profile(id=1)
    assert [p.rule for p in conflicts(tx_profile(id=2), [held], V201)] == ["K01.FR.39"]
    assert conflicts(tx_profile(id=2, transaction_id="43"), [held], V201) == []


def test_a_profile_replaces_its_id_and_in_1_6_its_purpose_and_level_on_its_connector() -> None:
    same_id = profile(id=7, stack_level=3)
    same_place = profile(id=8)
    elsewhere = profile(id=9, connector_id=2)
    other_tx = tx_profile(id=10, transaction_id="1")
    held = [same_id, same_place, elsewhere, other_tx]
    new = profile(id=7)
    assert replaced(new, held, V16) == [same_id, same_place]
    assert replaced(new, held, V201) == [same_id]
    assert replaced(tx_profile(id=11, transaction_id="2"), held, V16) == []
    assert replaced(tx_profile(id=11, transaction_id="1"), held, V16) == [other_tx]

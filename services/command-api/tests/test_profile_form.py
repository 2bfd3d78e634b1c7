"""The console's profile form read as the neutral ChargingProfile, its problems named as the
REST body spells the fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from starlette.datastructures import FormData

from command_api.console.profiles import PERIOD_FIELDS, PROFILE_FORM, profile_body
from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
)

FORM = {
    "id": "1",
    "purpose": "TxDefaultProfile",
    "stackLevel": "2",
    "connectorId": "1",
    "kind": "Absolute",
    "recurrencyKind": "",
    "schedules.0.rateUnit": "A",
    "schedules.0.periods": "0 16\n3600 10.5",
    # The other schedules' rate units, as a browser posts them: a select always has a value.
    "schedules.1.rateUnit": "A",
    "schedules.2.rateUnit": "A",
}


def test_the_form_is_the_profile() -> None:
    profile, problems = profile_body(FormData(FORM))
    assert problems == []
    assert profile == ChargingProfile(
        id=1,
        purpose=ProfilePurpose.TX_DEFAULT,
        stack_level=2,
        connector_id=1,
        kind=ProfileKind.ABSOLUTE,
        schedules=(
            ChargingSchedule(
                rate_unit=RateUnit.A,
                periods=(
                    SchedulePeriod(start_period=0, limit=Decimal(16)),
                    SchedulePeriod(start_period=3600, limit=Decimal("10.5")),
                ),
            ),
        ),
    )


def test_the_form_offers_every_field_of_the_model() -> None:
    # A Recurring profile, periods on fewer phases, a minimum rate, and the alternative
    # schedules of a 2.0.1 TxProfile (which rules allow them is the REST route's business).
    periods = "\n".join(f"{n * 600} {16 - n}" for n in range(12))
    profile, problems = profile_body(
        FormData(
            {
                **FORM,
                "purpose": "TxProfile",
                "transactionId": "tx-1",
                "kind": "Recurring",
                "recurrencyKind": "Daily",
                "validFrom": "2027-01-01T00:00:00Z",
                "validTo": "2027-02-01T00:00:00Z",
                "schedules.0.id": "7",
                "schedules.0.startSchedule": "2027-01-01T06:00:00Z",
                "schedules.0.duration": "43200",
                "schedules.0.minChargingRate": "6.5",
                "schedules.0.periods": "0 16 1 2\n  \n3600 10.5 1\n7200 32",
                "schedules.1.rateUnit": "W",
                "schedules.1.periods": periods,
            }
        )
    )
    assert problems == []
    assert profile is not None
    assert (profile.purpose, profile.transaction_id) == (ProfilePurpose.TX, "tx-1")
    assert (profile.kind, profile.recurrency_kind) == (ProfileKind.RECURRING, RecurrencyKind.DAILY)
    assert profile.valid_from == datetime(2027, 1, 1, tzinfo=UTC)
    assert profile.valid_to == datetime(2027, 2, 1, tzinfo=UTC)
    first, second = profile.schedules
    assert first == ChargingSchedule(
        id=7,
        start_schedule=datetime(2027, 1, 1, 6, tzinfo=UTC),
        duration=43200,
        rate_unit=RateUnit.A,
        min_charging_rate=Decimal("6.5"),
        periods=(
            SchedulePeriod(start_period=0, limit=Decimal(16), number_phases=1, phase_to_use=2),
            SchedulePeriod(start_period=3600, limit=Decimal("10.5"), number_phases=1),
            SchedulePeriod(start_period=7200, limit=Decimal(32)),
        ),
    )
    # More periods than the form once took: as many as typed (OCPP's rules set the limit).
    assert second.rate_unit is RateUnit.W
    assert len(second.periods) == 12
    assert second.periods[-1] == SchedulePeriod(start_period=6600, limit=Decimal(5))


def test_the_form_has_the_model_s_choices_and_as_many_schedules() -> None:
    # A period's line names every field of a period.
    assert set(PERIOD_FIELDS) == set(SchedulePeriod.model_fields)
    assert PROFILE_FORM.schedules == 3
    assert PROFILE_FORM.kinds == ("Absolute", "Recurring", "Relative")
    assert PROFILE_FORM.recurrencies == ("Daily", "Weekly")
    assert "ExternalConstraints" not in PROFILE_FORM.purposes
    three = {f"schedules.{i}.periods": "0 16" for i in range(3)}
    profile, problems = profile_body(FormData({**FORM, **three}))
    assert problems == []
    assert profile is not None and len(profile.schedules) == 3


def test_what_the_model_refuses_is_named_by_its_path_in_the_body() -> None:
    _, problems = profile_body(FormData({**FORM, "schedules.0.periods": "0 16\n60 -1"}))
    assert problems == ["schedules.0.periods.1.limit: Input should be greater than or equal to 0"]
    _, problems = profile_body(FormData({**FORM, "schedules.0.duration": "long"}))
    assert problems == [
        "schedules.0.duration: Input should be a valid integer, unable to parse string as an"
        " integer"
    ]
    profile, problems = profile_body(FormData({**FORM, "stackLevel": "two", "validTo": "never"}))
    assert profile is None
    assert [p.split(":")[0] for p in problems] == ["stackLevel", "validTo"]


def test_every_field_of_a_period_s_line_is_the_model_s_to_refuse() -> None:
    # Every problem at once, each by its path, and none more: a refused period does not also
    # leave its schedule "too short".
    profile, problems = profile_body(
        FormData(
            {
                **FORM,
                "recurrencyKind": "Hourly",
                "schedules.0.minChargingRate": "some",
                "schedules.0.periods": "0 x\nten 10\n60 8.25\n90 8 one\n120 8 1 first",
            }
        )
    )
    assert profile is None
    assert [p.split(":")[0] for p in problems] == [
        "recurrencyKind",
        "schedules.0.minChargingRate",
        "schedules.0.periods.0.limit",
        "schedules.0.periods.1.startPeriod",
        "schedules.0.periods.2.limit",
        "schedules.0.periods.3.numberPhases",
        "schedules.0.periods.4.phaseToUse",
    ]
    assert problems[2] == "schedules.0.periods.0.limit: Value error, a rate must be a number"
    assert (
        problems[4]
        == "schedules.0.periods.2.limit: Decimal input should have no more than 1 decimal place"
    )


def test_the_form_s_own_problems_come_first() -> None:
    periods = "0 -1\nten 10\n60\n90 8 1 2 3"
    profile, problems = profile_body(FormData({**FORM, "schedules.0.periods": periods}))
    assert profile is None
    assert problems == [
        "schedules.0.periods line 3: '60' is not `startPeriod limit [numberPhases [phaseToUse]]`",
        "schedules.0.periods line 4: '90 8 1 2 3' is not"
        " `startPeriod limit [numberPhases [phaseToUse]]`",
    ]
    _, problems = profile_body(FormData({**FORM, "schedules.0.periods": " \n"}))
    assert problems == [
        "schedules.0.periods: one line `startPeriod limit [numberPhases [phaseToUse]]` at least,"
        " e.g. `0 16`"
    ]


def test_schedules_are_filled_in_order() -> None:
    # A schedule counts once any field of it but its rate unit is filled.
    profile, problems = profile_body(FormData({**FORM, "schedules.2.duration": "60"}))
    assert profile is None
    assert problems == [
        "schedules.1: schedule 2 is blank but schedule 3 is not: fill them in order"
    ]
    # A second schedule begun without periods is the form's to refuse.
    _, problems = profile_body(FormData({**FORM, "schedules.1.minChargingRate": "6"}))
    assert problems == [
        "schedules.1.periods: one line `startPeriod limit [numberPhases [phaseToUse]]` at least,"
        " e.g. `0 16`"
    ]

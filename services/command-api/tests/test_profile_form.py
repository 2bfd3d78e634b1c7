"""The console's profile form read as the neutral ChargingProfile, its problems named as the
REST body spells the fields."""

from __future__ import annotations

from decimal import Decimal

from starlette.datastructures import FormData

from command_api.console.profiles import profile_body
from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)

FORM = {
    "id": "1",
    "purpose": "TxDefaultProfile",
    "stackLevel": "2",
    "connectorId": "1",
    "kind": "Absolute",
    "rateUnit": "A",
    "periods": "0 16\n3600 10.5",
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


def test_what_the_model_refuses_is_named_by_its_path_in_the_body() -> None:
    _, problems = profile_body(FormData({**FORM, "periods": "0 16\n60 -1"}))
    assert problems == ["schedules.0.periods.1.limit: Input should be greater than or equal to 0"]
    _, problems = profile_body(FormData({**FORM, "duration": "long"}))
    assert problems == [
        "schedules.0.duration: Input should be a valid integer, unable to parse string as an"
        " integer"
    ]
    profile, problems = profile_body(FormData({**FORM, "stackLevel": "two", "validTo": "never"}))
    assert profile is None
    assert [p.split(":")[0] for p in problems] == ["stackLevel", "validTo"]


def test_the_form_s_own_problems_come_first() -> None:
    profile, problems = profile_body(FormData({**FORM, "periods": "0 -1\nten 10"}))
    assert profile is None
    assert problems == ["periods line 2: 'ten 10' is not two numbers"]

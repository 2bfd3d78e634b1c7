"""A charging profile spelt for 1.6 and 2.0.1 and read back through the generated models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms_shared.charging import (
    ChargingProfile,
    ChargingSchedule,
    CompositePeriod,
    ProfileKind,
    ProfilePurpose,
    ProfileUse,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    composite_from_v16,
    composite_from_v201,
    from_v16,
    from_v16_request,
    from_v201,
    from_v201_report,
    from_v201_request,
    to_v16,
    to_v16_request,
    to_v201,
    to_v201_request,
    validate,
)
from csms_shared.ocpp import v16, v201
from csms_shared.ocpp.version import OcppVersion

# A TxDefaultProfile as a 1.6 Central System sends it (recurring daily, night rate after 20:00).
V16_FRAME: dict[str, Any] = {
    "connectorId": 0,
    "csChargingProfiles": {
        "chargingProfileId": 12,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 15.0},
                {"startPeriod": 72000, "limit": 30.5, "numberPhases": 1},
                {"startPeriod": 79200, "limit": 25.0},
            ],
            "startSchedule": "2021-01-01T00:00:00Z",
            "minChargingRate": 6.0,
        },
        "validFrom": "2021-01-01T00:00:00Z",
        "validTo": "2022-01-01T00:00:00.500Z",
    },
}

# A 2.0.1 TxProfile offering two schedules (ISO 15118), the second switched to phase 2.
V201_FRAME: dict[str, Any] = {
    "evseId": 2,
    "chargingProfile": {
        "id": 101,
        "stackLevel": 3,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
                "startSchedule": "2024-08-14T06:00:00Z",
                "duration": 28800,
            },
            {
                "id": 2,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 3600, "limit": 8.1, "numberPhases": 1, "phaseToUse": 2},
                ],
                "startSchedule": "2024-08-14T06:00:00Z",
            },
        ],
        "transactionId": "f1c2-77",
        "validTo": "2024-08-21T00:00:00Z",
    },
}


def test_a_1_6_frame_reads_in_and_writes_out_unchanged() -> None:
    request = v16.SetChargingProfileRequest.model_validate(V16_FRAME)
    ours = from_v16_request(request)
    assert ours.purpose is ProfilePurpose.TX_DEFAULT
    assert ours.kind is ProfileKind.RECURRING
    assert ours.recurrency_kind is RecurrencyKind.DAILY
    assert ours.connector_id == 0
    (schedule,) = ours.schedules
    assert [p.limit for p in schedule.periods] == [Decimal(15), Decimal("30.5"), Decimal(25)]
    assert validate(ours, OcppVersion.V16) == []
    assert to_v16_request(ours).to_payload() == V16_FRAME


def test_a_2_0_1_frame_reads_in_and_writes_out_unchanged() -> None:
    request = v201.SetChargingProfileRequest.model_validate(V201_FRAME)
    ours = from_v201_request(request)
    assert ours.transaction_id == "f1c2-77"
    assert ours.connector_id == 2
    assert [s.id for s in ours.schedules] == [1, 2]
    assert ours.schedules[1].periods[1] == SchedulePeriod(
        start_period=3600, limit=Decimal("8.1"), number_phases=1, phase_to_use=2
    )
    assert validate(ours, OcppVersion.V201) == []
    assert to_v201_request(ours).to_payload() == V201_FRAME


def test_a_1_6_remote_start_profile_reads_as_a_tx_profile_for_the_transaction_to_come() -> None:
    request = v16.RemoteStartTransactionRequest.model_validate(
        {
            "connectorId": 2,
            "idTag": "04A1B2C3",
            "chargingProfile": {
                "chargingProfileId": 5,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}],
                },
            },
        }
    )
    assert request.charging_profile is not None
    ours = from_v16(request.charging_profile, 2)
    assert (ours.purpose, ours.transaction_id, ours.connector_id) == (ProfilePurpose.TX, None, 2)
    assert validate(ours, OcppVersion.V16, ProfileUse.REMOTE_START) == []
    assert to_v16(ours).to_payload() == request.to_payload()["chargingProfile"]


def test_times_go_out_in_utc_with_a_z() -> None:
    paris = timezone(timedelta(hours=2))
    ours = from_v16_request(v16.SetChargingProfileRequest.model_validate(V16_FRAME))
    moved = ours.model_copy(update={"valid_from": datetime(2021, 1, 1, 2, tzinfo=paris)})
    assert to_v16(moved).to_payload()["validFrom"] == "2021-01-01T00:00:00Z"
    assert to_v201(moved).to_payload()["validFrom"] == "2021-01-01T00:00:00Z"
    # What the suite itself writes of the profile: the same.
    assert ChargingProfile.model_validate(moved.model_dump()).model_dump(mode="json")[
        "valid_from"
    ] == ("2021-01-01T00:00:00Z")


def test_a_report_lists_the_profiles_of_its_evse() -> None:
    report = v201.ReportChargingProfilesRequest.model_validate(
        {
            "requestId": 5,
            "chargingLimitSource": "CSO",
            "evseId": 2,
            "chargingProfile": [V201_FRAME["chargingProfile"]],
        }
    )
    assert from_v201_report(report) == [
        from_v201_request(v201.SetChargingProfileRequest.model_validate(V201_FRAME))
    ]


def test_external_constraints_read_from_a_2_0_1_report() -> None:
    wire = dict(
        V201_FRAME["chargingProfile"], chargingProfilePurpose="ChargingStationExternalConstraints"
    )
    wire.pop("transactionId")
    ours = from_v201(v201.ChargingProfile.model_validate(wire), 0)
    assert ours.purpose is ProfilePurpose.EXTERNAL_CONSTRAINTS
    assert to_v201(ours).to_payload() == wire


def test_a_rate_with_more_digits_than_ocpp_allows_reads_at_the_tenth_below() -> None:
    wire = dict(V201_FRAME["chargingProfile"])
    wire["chargingSchedule"] = [
        {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.19}],
        }
    ]
    ours = from_v201(v201.ChargingProfile.model_validate(wire), 2)
    assert ours.schedules[0].periods[0].limit == Decimal("8.1")


def _one(**more: Any) -> ChargingProfile:
    fields: dict[str, Any] = {
        "id": 3,
        "stack_level": 0,
        "purpose": ProfilePurpose.TX,
        "kind": ProfileKind.RELATIVE,
        "transaction_id": "17",
        "connector_id": 1,
        "schedules": (
            ChargingSchedule(
                rate_unit=RateUnit.A, periods=(SchedulePeriod(start_period=0, limit=10),)
            ),
        ),
    }
    fields.update(more)
    return ChargingProfile(**fields)


@pytest.mark.parametrize(
    ("what", "profile"),
    [
        ("one charging schedule", _one(schedules=_one().schedules * 2)),
        ("no ExternalConstraints purpose", _one(purpose=ProfilePurpose.EXTERNAL_CONSTRAINTS)),
        ("transaction id is an integer", _one(transaction_id="f1c2")),
        (
            "no phaseToUse",
            _one(
                schedules=(
                    ChargingSchedule(
                        rate_unit=RateUnit.A,
                        periods=(
                            SchedulePeriod(
                                start_period=0, limit=10, number_phases=1, phase_to_use=1
                            ),
                        ),
                    ),
                )
            ),
        ),
    ],
)
def test_what_1_6_cannot_say_is_refused_not_dropped(what: str, profile: ChargingProfile) -> None:
    with pytest.raises(ValueError, match=what):
        to_v16(profile)


def test_a_schedule_without_an_id_gets_its_position_for_2_0_1() -> None:
    two = _one(schedules=_one().schedules * 2)
    assert [s.id for s in to_v201(two).charging_schedule] == [1, 2]
    assert to_v201(_one()).to_payload()["chargingSchedule"] == [
        {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        }
    ]


def test_a_1_6_composite_schedule_answer_reads_as_a_composite() -> None:
    asked = v16.GetCompositeScheduleRequest(connector_id=1, duration=3600)
    answer = v16.GetCompositeScheduleResponse.model_validate(
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-03-01T08:00:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16},
                    {"startPeriod": 600, "limit": 8.5, "numberPhases": 1},
                ],
            },
        }
    )
    composite = composite_from_v16(answer, asked)
    assert composite is not None
    assert composite.duration == 3600  # the station left it out: what was asked
    assert composite.schedule_start == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert composite.periods == (
        CompositePeriod(start_period=0, limit=Decimal(16), number_phases=None),
        CompositePeriod(start_period=600, limit=Decimal("8.5"), number_phases=1),
    )
    rejected = v16.GetCompositeScheduleResponse.model_validate({"status": "Rejected"})
    assert composite_from_v16(rejected, asked) is None


def test_a_2_0_1_composite_schedule_answer_reads_as_a_composite() -> None:
    answer = v201.GetCompositeScheduleResponse.model_validate(
        {
            "status": "Accepted",
            "schedule": {
                "evseId": 2,
                "duration": 900,
                "scheduleStart": "2026-03-01T08:00:00+01:00",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360.0, "numberPhases": 1}],
            },
        }
    )
    composite = composite_from_v201(answer)
    assert composite is not None
    assert (composite.connector_id, composite.duration, composite.rate_unit) == (2, 900, RateUnit.W)
    assert composite.schedule_start == datetime(2026, 3, 1, 7, tzinfo=UTC)
    assert composite.periods == (
        CompositePeriod(start_period=0, limit=Decimal(7360), number_phases=1),
    )
    assert (
        composite_from_v201(
            v201.GetCompositeScheduleResponse.model_validate({"status": "Rejected"})
        )
        is None
    )


# --- any profile a version can say makes the round trip ----------------------------------------

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))
rates = st.integers(min_value=0, max_value=10**7).map(lambda tenths: Decimal(tenths).scaleb(-1))


@st.composite
def periods(draw: st.DrawFn, *, phase_to_use: bool) -> tuple[SchedulePeriod, ...]:
    starts = sorted(draw(st.sets(st.integers(1, 10**6), max_size=5)))
    out = []
    for start in [0, *starts]:
        phases = draw(st.none() | st.integers(1, 3))
        phase = draw(st.none() | st.integers(1, 3)) if phase_to_use and phases == 1 else None
        out.append(
            SchedulePeriod(
                start_period=start, limit=draw(rates), number_phases=phases, phase_to_use=phase
            )
        )
    return tuple(out)


@st.composite
def schedules(draw: st.DrawFn, *, v201: bool) -> ChargingSchedule:
    return ChargingSchedule(
        id=draw(st.integers(1, 1000)) if v201 else None,
        start_schedule=draw(st.none() | instants),
        duration=draw(st.none() | st.integers(1, 10**6)),
        rate_unit=draw(st.sampled_from(RateUnit)),
        min_charging_rate=draw(st.none() | rates),
        periods=draw(periods(phase_to_use=v201)),
    )


@st.composite
def profiles(draw: st.DrawFn, *, v201: bool) -> ChargingProfile:
    purposes = list(ProfilePurpose) if v201 else list(ProfilePurpose)[:3]
    purpose = draw(st.sampled_from(purposes))
    tx = None
    if purpose is ProfilePurpose.TX:
        tx = draw(
            st.text(min_size=1, max_size=36) if v201 else st.integers(-(2**63), 2**63 - 1).map(str)
        )
    count = draw(st.integers(1, 3)) if v201 else 1
    return ChargingProfile(
        id=draw(st.integers(1, 2**31)),
        stack_level=draw(st.integers(0, 10)),
        purpose=purpose,
        kind=draw(st.sampled_from(ProfileKind)),
        recurrency_kind=draw(st.none() | st.sampled_from(RecurrencyKind)),
        valid_from=draw(st.none() | instants),
        valid_to=draw(st.none() | instants),
        transaction_id=tx,
        connector_id=draw(st.integers(0, 8)),
        schedules=tuple(draw(schedules(v201=v201)) for _ in range(count)),
    )


@given(profiles(v201=False))
def test_any_1_6_profile_makes_the_round_trip_through_the_wire(ours: ChargingProfile) -> None:
    payload = to_v16_request(ours).to_payload()
    assert from_v16_request(v16.SetChargingProfileRequest.model_validate(payload)) == ours


@given(profiles(v201=True))
def test_any_2_0_1_profile_makes_the_round_trip_through_the_wire(ours: ChargingProfile) -> None:
    payload = to_v201_request(ours).to_payload()
    assert from_v201_request(v201.SetChargingProfileRequest.model_validate(payload)) == ours


@given(profiles(v201=True))
def test_the_suite_reads_back_what_it_writes_of_a_profile(ours: ChargingProfile) -> None:
    assert ChargingProfile.model_validate_json(ours.model_dump_json(by_alias=True)) == ours

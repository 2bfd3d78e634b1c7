"""The rules of the comparison between the stored profiles and what a station that came back
holds: the same profile as a 2.0.1 station reports it, the same limits in a 1.6 composite, which
connectors can be compared, and what each answer sends again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from csms_shared.charging import (
    ChargingProfile,
    CompositePeriod,
    CompositeSchedule,
    RateUnit,
    composite_schedule,
    from_v201,
    to_v201,
)
from csms_shared.ocpp.version import OcppVersion
from load_manager.profiles.compare import (
    CLEAR,
    SET,
    Row,
    connectors_to_ask,
    expected,
    fallback,
    same_limits,
    same_profile,
    verdict_v16,
    verdict_v201,
)

V16, V201 = OcppVersion.V16, OcppVersion.V201
START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def profile(**fields: Any) -> ChargingProfile:
    """A TxDefaultProfile of 16 A on connector 1 from START, with `fields` changed."""
    body: dict[str, Any] = {
        "id": 1,
        "stackLevel": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Absolute",
        "connectorId": 1,
        "schedules": [
            {
                "startSchedule": "2026-12-01T08:00:00Z",
                "rateUnit": "A",
                "periods": [{"startPeriod": 0, "limit": 16}],
            }
        ],
    }
    return ChargingProfile.model_validate(body | fields)


def relative(*periods: int, **fields: Any) -> ChargingProfile:
    steps = [{"startPeriod": 600 * n, "limit": amps} for n, amps in enumerate(periods)]
    schedule = {"rateUnit": "A", "periods": steps}
    return profile(kind="Relative", schedules=[schedule], **fields)


def row(p: ChargingProfile, status: str = "accepted", **fields: Any) -> Row:
    return Row(**({"profile": p, "action": SET, "status": status, "version": V201} | fields))


def schedule(*periods: tuple[int, float | None, int | None], **fields: Any) -> CompositeSchedule:
    return CompositeSchedule(
        connector_id=1,
        schedule_start=fields.pop("start", START),
        duration=fields.pop("duration", 3600),
        rate_unit=fields.pop("rate_unit", RateUnit.A),
        periods=tuple(
            CompositePeriod(
                start_period=at,
                limit=None if amps is None else Decimal(str(amps)),
                number_phases=phases,
            )
            for at, amps, phases in periods
        ),
    )


def test_a_reported_profile_is_the_stored_one_as_the_station_reads_it() -> None:
    stored = profile()  # no schedule id: 2.0.1 gets its position
    reported = from_v201(to_v201(stored), 1)
    assert reported.schedules[0].id == 1 and stored.schedules[0].id is None
    assert same_profile(stored, reported)
    assert not same_profile(stored, profile(schedules=[{**_schedule(), "id": 1, "duration": 60}]))
    assert not same_profile(stored, from_v201(to_v201(stored), 2))  # on another EVSE
    assert not same_profile(stored, from_v201(to_v201(profile(stackLevel=1)), 1))


def _schedule() -> dict[str, Any]:
    return {"startSchedule": "2026-12-01T08:00:00Z", "rateUnit": "A", "periods": [
        {"startPeriod": 0, "limit": 16}
    ]}  # fmt: skip


def test_a_2_0_1_verdict_sends_what_the_station_lacks_or_holds_otherwise() -> None:
    kept, lost, changed = profile(id=1), profile(id=2, connectorId=2), profile(id=3, stackLevel=3)
    failed = profile(id=4, connectorId=4)
    clearing, cleared = profile(id=5, connectorId=5), profile(id=6, connectorId=6)
    rows = [
        row(kept),
        row(lost),
        row(changed),
        row(failed, "failed"),
        row(clearing, "failed", action=CLEAR),
        row(cleared, "failed", action=CLEAR),
        row(profile(id=7, connectorId=7), "rejected"),
        row(profile(id=8, connectorId=8), "pending", waiting=True),
    ]
    reported = [
        from_v201(to_v201(p), p.connector_id)
        for p in (kept, profile(id=3, stackLevel=3, connectorId=2), failed, clearing)
    ]
    verdict = verdict_v201(rows, reported, V201, boot=False)
    assert (verdict.resend, verdict.held, verdict.gone) == ({2, 3, 5}, {4}, {6})
    # After a boot a rejected profile the station lacks goes again too.
    assert verdict_v201(rows, reported, V201, boot=True).resend == {2, 3, 5, 7}
    # Stored while the station spoke 1.6: sent again in 2.0.1, whatever it holds.
    assert verdict_v201([row(kept, version=V16)], reported, V201, boot=False).resend == {1}


def test_without_an_answer_a_boot_sends_everything_a_reconnection_what_got_no_answer() -> None:
    rows = [
        row(profile(id=1)),
        row(profile(id=2), "failed"),
        row(profile(id=3), "rejected"),
        row(profile(id=4), "pending", waiting=True),
    ]
    assert fallback(rows, boot=False).resend == {2}
    assert fallback(rows, boot=True).resend == {1, 2, 3}


def test_the_same_limits_at_every_instant_whatever_the_periods_say_it_with() -> None:
    computed = schedule((0, 16, 3), (1800, 10, 3))
    assert same_limits(schedule((0, 16, None), (1800, 10, None)), computed)
    # A repeated period, or one past the station's shorter window, changes nothing.
    assert same_limits(schedule((0, 16, 3), (900, 16, 3), (1800, 10, 3)), computed)
    assert same_limits(schedule((0, 16, 3), duration=1800), schedule((0, 16, 3), (1800, 6, 3)))
    assert not same_limits(schedule((0, 16, 3), (1800, 12, 3)), computed)
    assert not same_limits(schedule((0, 16, 3), (1200, 10, 3)), computed)
    assert not same_limits(schedule((0, 16, 1), (1800, 10, 1)), computed)
    assert not same_limits(schedule((0, 16, 3)), schedule((0, None, None)))
    assert not same_limits(schedule((0, 16, 3), rate_unit=RateUnit.W), schedule((0, 16, 3)))
    later = START.replace(hour=9)
    assert not same_limits(schedule((0, 16, 3), start=later), schedule((0, 16, 3)))


def test_the_computed_composite_of_held_profiles_matches_a_station_that_holds_them() -> None:
    held = [profile(), profile(id=2, stackLevel=1, schedules=[_schedule() | {"periods": [
        {"startPeriod": 0, "limit": 32}, {"startPeriod": 1800, "limit": 8}
    ]}])]  # fmt: skip
    computed = composite_schedule(
        held, connector_id=1, start=START, duration=3600, rate_unit=RateUnit.A
    )
    assert same_limits(schedule((0, 32, None), (1800, 8, None)), computed)


def test_connectors_whose_composite_the_csms_cannot_compute_are_not_asked() -> None:
    assert connectors_to_ask([profile(), profile(id=2, connectorId=2)]) == [1, 2]
    # A charge point maximum is on connector 0; a TxDefault on 0 alone shows on connector 1.
    station_max = profile(id=3, purpose="StationMaxProfile", connectorId=0)
    assert connectors_to_ask([station_max]) == [0]
    assert connectors_to_ask([profile(connectorId=0)]) == [1]
    assert connectors_to_ask([profile(connectorId=0), profile(id=2, connectorId=2)]) == [2]
    # A TxProfile: its transaction's start is not known here; nor is the allocator's profile.
    tx = profile(id=4, purpose="TxProfile", transactionId="7", connectorId=2)
    assert connectors_to_ask([profile(), profile(id=2, connectorId=2), tx]) == [1]
    assert connectors_to_ask([profile(), profile(id=2, connectorId=2)], skip={2}) == [1]
    # A Relative schedule that changes over time counts from a transaction's start; one
    # endless period is the same limit from whenever it starts.
    assert connectors_to_ask([relative(16, 10)]) == []
    assert connectors_to_ask([relative(16)]) == [1]
    assert connectors_to_ask([relative(16, 10, connectorId=0), profile(id=2, connectorId=2)]) == []


def test_expected_profiles_are_the_sets_the_station_should_hold() -> None:
    rows = [
        row(profile(id=1), version=V16),
        row(profile(id=2), "failed", version=V16),
        row(profile(id=3), "rejected", version=V16),
        row(profile(id=4), "pending", version=V16, waiting=True),
        row(profile(id=5), "failed", version=V16, action=CLEAR),
        row(profile(id=6), version=V201),
    ]
    assert [p.id for p in expected(rows, V16)] == [1, 2]


def test_a_1_6_verdict_sends_the_profiles_of_a_connector_whose_composite_differs() -> None:
    station_max = profile(id=9, purpose="StationMaxProfile", connectorId=0)
    rows = [
        row(profile(id=1), version=V16),
        row(profile(id=2, connectorId=2), "failed", version=V16),
        row(profile(id=3, connectorId=3), version=V16),
        row(profile(id=4, connectorId=4), "failed", version=V16),  # not asked
        row(profile(id=5, connectorId=0), version=V16),  # TxDefault on 0: counts on 1, 2, 3
        row(station_max, "failed", version=V16),  # counts on every connector
        row(profile(id=6, connectorId=6), "failed", version=V16, action=CLEAR),
        row(profile(id=7, connectorId=3), "rejected", version=V16),
    ]
    verdict = verdict_v16(rows, matched=[0, 1, 2], differing=[3], version=V16, boot=False)
    assert (verdict.resend, verdict.held, verdict.gone) == ({3, 4, 5, 6, 9}, {2}, set())
    booted = verdict_v16(rows, matched=[0, 1, 2], differing=[3], version=V16, boot=True)
    assert booted.resend == {3, 4, 5, 6, 7, 9}
    # Where every connector it counts on matched, the charge point maximum is held.
    alike = verdict_v16(rows, matched=[0, 1, 2, 3], differing=[], version=V16, boot=False)
    assert (alike.resend, alike.held) == ({4, 6}, {2, 9})
    # Nothing compared: as without an answer.
    assert verdict_v16(rows, [], [], V16, boot=False).resend == fallback(rows, boot=False).resend

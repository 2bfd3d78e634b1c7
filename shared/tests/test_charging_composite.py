"""The composite schedule the CSMS works out from stored profiles (1.6 §3.13, 2.0.1 K08)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from csms_shared.charging import (
    ActiveTransaction,
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
    composite_schedule,
    convert,
    limit_at,
)

DAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
HOUR = 3600
TX = ActiveTransaction(transaction_id="T-1", started_at=DAY + timedelta(hours=9))

A, W = RateUnit.A, RateUnit.W
MAX, DEFAULT, TXP, EXTERNAL = (
    ProfilePurpose.STATION_MAX,
    ProfilePurpose.TX_DEFAULT,
    ProfilePurpose.TX,
    ProfilePurpose.EXTERNAL_CONSTRAINTS,
)


def make(
    purpose: ProfilePurpose,
    *periods: tuple[int, float] | tuple[int, float, int],
    stack: int = 0,
    connector: int | None = None,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    start: datetime | None = DAY,
    unit: RateUnit = A,
    duration: int | None = None,
    **more: Any,
) -> ChargingProfile:
    """A profile whose single schedule has `periods` as (startPeriod, limit[, numberPhases])."""
    if connector is None:
        connector = 0 if purpose in (MAX, EXTERNAL) else 1
    if purpose is TXP:
        more.setdefault("transaction_id", TX.transaction_id)
    return ChargingProfile(
        id=more.pop("id", 1),
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        connector_id=connector,
        schedules=(
            ChargingSchedule(
                start_schedule=None if kind is ProfileKind.RELATIVE else start,
                duration=duration,
                rate_unit=unit,
                periods=tuple(
                    SchedulePeriod(
                        start_period=p[0], limit=p[1], number_phases=p[2] if len(p) > 2 else None
                    )
                    for p in periods
                ),
            ),
        ),
        **more,
    )


def plan(
    profiles: list[ChargingProfile],
    *,
    start: datetime = DAY,
    duration: int = 24 * HOUR,
    unit: RateUnit = A,
    connector: int = 1,
    transaction: ActiveTransaction | None = None,
) -> list[tuple[int, float | None, int | None]]:
    """The composite's periods as (startPeriod, limit, numberPhases), limits as plain numbers."""
    composite = composite_schedule(
        profiles,
        connector_id=connector,
        start=start,
        duration=duration,
        rate_unit=unit,
        transaction=transaction,
    )
    assert composite.schedule_start == start
    assert composite.duration == duration
    assert composite.connector_id == connector
    return [
        (p.start_period, None if p.limit is None else float(p.limit), p.number_phases)
        for p in composite.periods
    ]


def test_no_profile_no_limit() -> None:
    assert plan([]) == [(0, None, None)]


def test_the_highest_stack_level_in_force_prevails_and_gives_way_when_it_ends() -> None:
    base = make(DEFAULT, (0, 32))
    evening = make(
        DEFAULT, (0, 10), (HOUR, 13), stack=1, start=DAY + timedelta(hours=18), duration=2 * HOUR
    )
    assert plan([base, evening]) == [
        (0, 32, 3),
        (18 * HOUR, 10, 3),
        (19 * HOUR, 13, 3),
        (20 * HOUR, 32, 3),
    ]


def test_the_station_maximum_and_external_constraints_cap_the_transactions_limit() -> None:
    profiles = [
        make(MAX, (0, 20), (12 * HOUR, 40)),
        make(EXTERNAL, (0, 50), (20 * HOUR, 12)),
        make(DEFAULT, (0, 32)),
    ]
    assert plan(profiles) == [(0, 20, 3), (12 * HOUR, 32, 3), (20 * HOUR, 12, 3)]


def test_a_tx_profile_overrules_the_default_only_while_its_transaction_runs() -> None:
    profiles = [make(DEFAULT, (0, 10)), make(TXP, (0, 25), stack=0), make(MAX, (0, 22))]
    assert plan(profiles, transaction=TX) == [(0, 22, 3)]
    assert plan(profiles) == [(0, 10, 3)]
    other = ActiveTransaction(transaction_id="T-2", started_at=TX.started_at)
    assert plan(profiles, transaction=other) == [(0, 10, 3)]
    # Connector 2 has neither the transaction nor the default: only the station's maximum.
    assert plan(profiles, transaction=TX, connector=2) == [(0, 22, 3)]


def test_when_the_tx_profile_ends_the_default_takes_over() -> None:
    profiles = [
        make(DEFAULT, (0, 10)),
        make(TXP, (0, 25), start=DAY + timedelta(hours=9), duration=HOUR),
    ]
    assert plan(profiles, transaction=TX) == [(0, 10, 3), (9 * HOUR, 25, 3), (10 * HOUR, 10, 3)]


def test_a_connectors_own_default_wins_over_connector_zeros_at_the_same_level_only() -> None:
    station_wide = make(DEFAULT, (0, 16), connector=0)
    own = make(DEFAULT, (0, 20), connector=1)
    assert plan([station_wide, own]) == [(0, 20, 3)]
    higher = make(DEFAULT, (0, 16), connector=0, stack=1)
    assert plan([higher, own]) == [(0, 16, 3)]
    assert plan([station_wide, make(DEFAULT, (0, 20), connector=2)]) == [(0, 16, 3)]


def test_the_whole_station_is_limited_by_its_maximum_and_external_constraints_only() -> None:
    profiles = [make(MAX, (0, 63)), make(DEFAULT, (0, 16), connector=0), make(EXTERNAL, (0, 80))]
    assert plan(profiles, connector=0) == [(0, 63, 3)]


def test_a_daily_schedule_crosses_midnight() -> None:
    night = make(
        DEFAULT,
        (0, 6),
        (4 * HOUR, 16),
        kind=ProfileKind.RECURRING,
        recurrency_kind=RecurrencyKind.DAILY,
        start=datetime(2020, 6, 1, 22, tzinfo=UTC),  # its time of day is what counts
        duration=8 * HOUR,
    )
    # From 20:00 for 12 h: nothing, 22:00 6 A, 02:00 16 A, 06:00 nothing.
    start = DAY + timedelta(hours=20)
    assert plan([night], start=start, duration=12 * HOUR) == [
        (0, None, None),
        (2 * HOUR, 6, 3),
        (6 * HOUR, 16, 3),
        (10 * HOUR, None, None),
    ]


def test_a_weekly_schedule_comes_back_on_its_weekday() -> None:
    sunday = datetime(2026, 3, 1, tzinfo=UTC)
    weekend = make(
        DEFAULT,
        (0, 8),
        kind=ProfileKind.RECURRING,
        recurrency_kind=RecurrencyKind.WEEKLY,
        start=sunday - timedelta(weeks=10),
        duration=24 * HOUR,
    )
    assert plan([weekend], start=sunday - timedelta(days=1), duration=9 * 24 * HOUR) == [
        (0, None, None),
        (24 * HOUR, 8, 3),
        (48 * HOUR, None, None),
        (8 * 24 * HOUR, 8, 3),
    ]


def test_a_relative_schedule_counts_from_the_transactions_start_else_the_windows() -> None:
    ramp = make(TXP, (0, 6), (600, 32), kind=ProfileKind.RELATIVE)
    start = DAY + timedelta(hours=8)
    assert plan([ramp], start=start, duration=2 * HOUR, transaction=TX) == [
        (0, None, None),
        (HOUR, 6, 3),
        (HOUR + 600, 32, 3),
    ]
    default = make(DEFAULT, (0, 6), (600, 32), kind=ProfileKind.RELATIVE)
    assert plan([default], start=start, duration=2 * HOUR) == [(0, 6, 3), (600, 32, 3)]


def test_a_1_6_absolute_schedule_without_a_start_counts_from_the_transaction() -> None:
    absolute = make(TXP, (0, 6), (600, 32), start=None)
    assert plan([absolute], start=DAY + timedelta(hours=9), duration=HOUR, transaction=TX) == [
        (0, 6, 3),
        (600, 32, 3),
    ]


def test_validity_is_honoured_and_an_expired_profile_gives_way() -> None:
    week = make(DEFAULT, (0, 32))
    today = make(
        DEFAULT,
        (0, 10),
        stack=2,
        valid_from=DAY + timedelta(hours=7),
        valid_to=DAY + timedelta(hours=7, minutes=30, seconds=10, milliseconds=500),
    )
    assert plan([week, today]) == [(0, 32, 3), (7 * HOUR, 10, 3), (7 * HOUR + 1811, 32, 3)]
    at = DAY + timedelta(hours=7, minutes=30, seconds=10)
    assert limit_at([week, today], at, connector_id=1, rate_unit=A) == (Decimal(10), 3)
    assert limit_at([week, today], at + timedelta(seconds=1), connector_id=1, rate_unit=A) == (
        Decimal(32),
        3,
    )


def test_limits_are_compared_in_the_asked_unit() -> None:
    watts = make(DEFAULT, (0, 11000), (HOUR, 7360, 1), unit=W)
    amps = make(MAX, (0, 32), (2 * HOUR, 10, 1))
    # 11000 W on 3 phases is 15.94 A: 15.9; 7360 W on one phase is 32 A.
    assert plan([watts, amps], duration=3 * HOUR) == [
        (0, 15.9, 3),
        (HOUR, 32, 1),
        (2 * HOUR, 10, 1),
    ]
    assert plan([watts, amps], duration=3 * HOUR, unit=W) == [
        (0, 11000, 3),
        (HOUR, 7360, 1),
        (2 * HOUR, 2300, 1),
    ]


@pytest.mark.parametrize(
    ("limit", "unit", "to", "phases", "expected"),
    [
        (Decimal(16), A, W, 3, Decimal(11040)),
        (Decimal(16), A, W, None, Decimal(11040)),
        (Decimal("8.1"), A, W, 1, Decimal(1863)),
        (Decimal(11000), W, A, 3, Decimal("15.9")),
        (Decimal(7360), W, A, 1, Decimal(32)),
        (Decimal(100), W, A, 2, Decimal("0.2")),
        (Decimal("7.5"), A, A, 1, Decimal("7.5")),
    ],
)
def test_converting_a_limit_never_allows_more(
    limit: Decimal, unit: RateUnit, to: RateUnit, phases: int | None, expected: Decimal
) -> None:
    assert convert(limit, unit, to, phases=phases) == expected


def test_another_voltage_converts_otherwise() -> None:
    assert convert(Decimal(16), A, W, phases=3, voltage=120) == Decimal(5760)


def test_the_fewest_phases_any_limit_allows_count() -> None:
    assert plan([make(MAX, (0, 63)), make(DEFAULT, (0, 16, 1))]) == [(0, 16, 1)]
    assert plan([make(MAX, (0, 10, 2)), make(DEFAULT, (0, 16))]) == [(0, 10, 2)]


def test_a_tx_profile_offering_several_schedules_counts_with_the_highest() -> None:
    offer = make(TXP, (0, 10))
    second = offer.schedules[0].model_copy(
        update={"periods": (SchedulePeriod(start_period=0, limit=20),)}
    )
    both = offer.model_copy(update={"schedules": (*offer.schedules, second)})
    assert plan([both], transaction=TX) == [(0, 20, 3)]


def test_a_window_covers_at_least_a_second() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        composite_schedule([], connector_id=1, start=DAY, duration=0, rate_unit=A)

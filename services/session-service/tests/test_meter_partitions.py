"""Month partitions of meter values: names, bounds, the months wanted ahead, the months expired."""

from __future__ import annotations

from datetime import date

import pytest

from csms_shared.partitions import Period, period_start, shift
from session_service.meter_partitions import METER_VALUES
from session_service.settings import Settings


def test_a_partition_is_named_for_its_month_and_the_name_gives_the_month_back() -> None:
    assert METER_VALUES.partition_name(date(2026, 11, 1)) == "meter_values_202611"
    assert METER_VALUES.start_of("meter_values_202611") == date(2026, 11, 1)
    for other in ("meter_values_2026110", "meter_values_20261101", "meter_values_202613",
                  "meter_values_old", "records_202611", "meter_values_pkey"):  # fmt: skip
        assert METER_VALUES.start_of(other) is None


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2026, 11, 1), date(2026, 11, 1)),
        (date(2026, 11, 30), date(2026, 11, 1)),
        (date(2028, 2, 29), date(2028, 2, 1)),
    ],
)
def test_a_day_lies_in_the_month_of_its_first_day(day: date, start: date) -> None:
    assert period_start(day, Period.MONTH) == start
    assert period_start(day, Period.DAY) == day


def test_months_shift_across_years_both_ways() -> None:
    assert shift(date(2026, 11, 1), 2, Period.MONTH) == date(2027, 1, 1)
    assert shift(date(2027, 1, 1), -1, Period.MONTH) == date(2026, 12, 1)
    assert shift(date(2026, 1, 1), -13, Period.MONTH) == date(2024, 12, 1)
    assert shift(date(2026, 12, 1), 12, Period.MONTH) == date(2027, 12, 1)
    assert shift(date(2026, 12, 31), 1, Period.DAY) == date(2027, 1, 1)


def test_the_ddl_covers_one_utc_month() -> None:
    sql = METER_VALUES.create_sql(date(2026, 12, 1))
    assert '"sessions"."meter_values_202612" PARTITION OF "sessions".meter_values' in sql
    assert "FROM ('2026-12-01T00:00:00+00:00') TO ('2027-01-01T00:00:00+00:00')" in sql
    leap = METER_VALUES.create_sql(date(2028, 2, 1))
    assert "FROM ('2028-02-01T00:00:00+00:00') TO ('2028-03-01T00:00:00+00:00')" in leap


def test_this_month_and_the_months_ahead_are_wanted() -> None:
    assert METER_VALUES.wanted(date(2026, 11, 24), 2) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]
    assert METER_VALUES.wanted(date(2026, 12, 31), 1) == [date(2026, 12, 1), date(2027, 1, 1)]


def test_a_month_expires_once_its_last_day_is_older_than_the_retention() -> None:
    today = date(2026, 11, 24)
    months = [shift(date(2026, 1, 1), n, Period.MONTH) for n in range(14)]  # 2026-01 .. 2027-02
    # 30 days: the oldest day kept is 2026-10-25, so October stays and September goes.
    assert METER_VALUES.expired(months, today, 30) == months[:9]
    # The boundary: September ends on 2026-10-01 (exclusive).
    assert METER_VALUES.expired(months, today, 54)[-1] == date(2026, 9, 1)  # kept from 10-01
    assert METER_VALUES.expired(months, today, 55)[-1] == date(2026, 8, 1)  # kept from 09-30
    # This month and the months ahead never expire, whatever the retention.
    assert date(2026, 11, 1) not in METER_VALUES.expired(months, today, 1)
    assert METER_VALUES.expired(months, today, 3650) == []


def test_the_settings_keep_meter_values_for_ever_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    assert settings.meter_values_retention_days is None
    assert (settings.meter_values_partitions_ahead, settings.partition_interval) == (2, 3600.0)
    monkeypatch.setenv("SESSION_METER_VALUES_RETENTION_DAYS", "400")
    monkeypatch.setenv("SESSION_METER_VALUES_PARTITIONS_AHEAD", "3")
    monkeypatch.setenv("SESSION_PARTITION_INTERVAL", "60")
    settings = Settings()
    assert settings.meter_values_retention_days == 400
    assert (settings.meter_values_partitions_ahead, settings.partition_interval) == (3, 60.0)

"""Day partitions: names, the days wanted ahead, the days past retention."""

from __future__ import annotations

from datetime import date

from message_log.partitions import create_sql, day_of, expired, partition_name, wanted


def test_a_partition_is_named_for_its_day_and_the_name_gives_the_day_back() -> None:
    assert partition_name(date(2026, 11, 3)) == "records_20261103"
    assert day_of("records_20261103") == date(2026, 11, 3)
    assert day_of("records_default") is None and day_of("records_2026110") is None


def test_the_ddl_covers_one_utc_day() -> None:
    sql = create_sql(date(2026, 12, 31))
    assert '"messages"."records_20261231" PARTITION OF "messages".records' in sql
    assert "FROM ('2026-12-31T00:00:00+00:00') TO ('2027-01-01T00:00:00+00:00')" in sql


def test_yesterday_today_and_the_days_ahead_are_wanted() -> None:
    assert wanted(date(2026, 3, 1), 2) == [
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
        date(2026, 3, 3),
    ]


def test_days_older_than_retention_before_today_expire() -> None:
    today = date(2026, 11, 23)
    days = [date(2026, 11, d) for d in range(10, 26)]
    # 7 days: today and the 7 before it (16th..23rd) stay, the days ahead too.
    assert expired(days, today, 7) == [date(2026, 11, d) for d in range(10, 16)]
    assert expired(days, today, 30) == []

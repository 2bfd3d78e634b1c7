"""The console's composite schedule: the station's periods beside the computed ones, a row per
offset where either starts, the rows where they limit differently marked; and its form."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from command_api.console.composite import NOT_COVERED, CompositeAsk, Row, side_by_side
from csms_shared.charging import CompositePeriod, CompositeSchedule, RateUnit

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def schedule(
    *periods: tuple[int, float | None, int | None], duration: int = 3600, unit: str = "A"
) -> CompositeSchedule:
    return CompositeSchedule(
        connector_id=1,
        schedule_start=T0,
        duration=duration,
        rate_unit=RateUnit(unit),
        periods=tuple(
            CompositePeriod(
                start_period=start,
                limit=None if limit is None else Decimal(str(limit)),
                number_phases=phases,
            )
            for start, limit, phases in periods
        ),
    )


def test_alike_schedules_mark_nothing_and_a_period_without_phases_counts_three() -> None:
    station = schedule((0, 16, None), (1800, 10.5, None))
    computed = schedule((0, 16.0, 3), (1800, 10.5, 3))
    assert side_by_side(station, computed) == [
        Row(0, "16 A", "16 A, 3 phases", True, True, differs=False),
        Row(1800, "10.5 A", "10.5 A, 3 phases", True, True, differs=False),
    ]


def test_each_offset_where_either_starts_shows_what_the_other_carries_on() -> None:
    station = schedule((0, 16, 3), (600, 8, 1))
    computed = schedule((0, 16, 3), (1200, 10, 3))
    rows = side_by_side(station, computed)
    assert [(r.offset, r.station, r.computed, r.differs) for r in rows] == [
        (0, "16 A, 3 phases", "16 A, 3 phases", False),
        (600, "8 A, 1 phase", "16 A, 3 phases", True),
        (1200, "8 A, 1 phase", "10 A, 3 phases", True),
    ]
    assert [(r.station_starts, r.computed_starts) for r in rows] == [
        (True, True),
        (True, False),
        (False, True),
    ]


def test_phases_alone_or_the_unit_make_a_difference() -> None:
    assert side_by_side(schedule((0, 16, 1)), schedule((0, 16, 3)))[0].differs
    assert side_by_side(schedule((0, 11000, 3), unit="W"), schedule((0, 11000, 3)))[0].differs


def test_a_shorter_station_window_leaves_its_later_offsets_uncovered() -> None:
    station = schedule((0, 16, 3), duration=600)
    computed = schedule((0, 16, 3), (900, None, None), duration=3600)
    assert side_by_side(station, computed)[1] == Row(
        900, NOT_COVERED, "no limit", False, True, differs=True
    )


def test_periods_starting_after_the_window_are_left_out() -> None:
    rows = side_by_side(schedule((0, 16, 3), (700, 6, 3), duration=600), schedule((0, 16, 3)))
    assert [r.offset for r in rows] == [0]


def test_without_the_stations_schedule_the_computed_one_stands_alone() -> None:
    rows = side_by_side(None, schedule((0, 32, 3), (60, 16, 3)))
    assert [(r.offset, r.station, r.computed, r.differs) for r in rows] == [
        (0, "", "32 A, 3 phases", False),
        (60, "", "16 A, 3 phases", False),
    ]


def test_the_form_reads_its_fields_and_names_each_wrong_one() -> None:
    form = {"csrf_token": "t", "connectorId": "2", "duration": "600", "rateUnit": "W"}
    ask = CompositeAsk.model_validate(form)
    assert (ask.connector_id, ask.duration, ask.rate_unit) == (2, 600, RateUnit.W)
    bad: dict[str, Any] = {"connectorId": "-1", "duration": "0", "rateUnit": "kW"}
    with pytest.raises(ValidationError) as caught:
        CompositeAsk.model_validate(bad)
    assert {e["loc"] for e in caught.value.errors()} == {
        ("connectorId",),
        ("duration",),
        ("rateUnit",),
    }

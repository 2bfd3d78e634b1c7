"""The chart on a site's page: three polylines over the samples, scaled to the highest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from command_api.console.sites import CHART_HEIGHT, CHART_WIDTH, chart
from csms_shared.contracts.resources_loads import SiteSample

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def sample(minute: int, limit: float, allocated: float, drawn: float) -> SiteSample:
    return SiteSample(
        at=T0 + timedelta(minutes=minute),
        limit_amps=limit,
        allocated_amps=allocated,
        drawn_amps=drawn,
    )


def test_fewer_than_two_samples_draw_nothing() -> None:
    assert chart([]) is None
    assert chart([sample(0, 40, 20, 10)]) is None


def test_each_line_spans_the_width_and_the_highest_value_reaches_the_top() -> None:
    drawn = chart([sample(0, 40, 20, 10), sample(30, 40, 40, 30), sample(60, 20, 20, 0)])
    assert drawn is not None
    assert (drawn.start, drawn.end, drawn.top) == ("14:00", "15:00", 40)
    assert drawn.limit == f"0.0,0.0 {CHART_WIDTH / 2:.1f},0.0 {CHART_WIDTH:.1f},80.0"
    assert drawn.allocated.split()[1] == f"{CHART_WIDTH / 2:.1f},0.0"
    assert drawn.drawn.split()[-1] == f"{CHART_WIDTH:.1f},{CHART_HEIGHT:.1f}"

"""A transaction's meter values as SVG polylines: drawn on the server, no script needed."""

from __future__ import annotations

from dataclasses import dataclass

from csms_shared.contracts.resources import MeterValue

WIDTH, HEIGHT, PAD = 640, 200, 30
SERIES = {
    "Energy.Active.Import.Register": ("energy", {"Wh": 1.0, "kWh": 1000.0}, "Wh"),
    "Power.Active.Import": ("power", {"W": 1.0, "kW": 1000.0}, "W"),
}


@dataclass(frozen=True)
class Series:
    """One measurand over time, scaled into the chart's box."""

    name: str
    unit: str
    points: str
    low: float
    high: float
    count: int


def series(meter_values: list[MeterValue]) -> list[Series]:
    """Energy register and power, each as `x,y` points for an SVG polyline."""
    found: dict[str, list[tuple[float, float]]] = {}
    for mv in meter_values:
        measurand = mv.measurand or "Energy.Active.Import.Register"
        if measurand not in SERIES or mv.phase:
            continue
        _, units, _ = SERIES[measurand]
        try:
            value = float(mv.value) * units.get(mv.unit or "", 1.0)
        except ValueError:
            continue  # a CP's malformed value is not drawn
        found.setdefault(measurand, []).append((mv.timestamp.timestamp(), value))
    charts = []
    for measurand, samples in found.items():
        name, _, unit = SERIES[measurand]
        samples.sort()
        t0, t1 = samples[0][0], samples[-1][0]
        low, high = min(v for _, v in samples), max(v for _, v in samples)
        span_t, span_v = (t1 - t0) or 1.0, (high - low) or 1.0
        points = " ".join(
            f"{PAD + (t - t0) / span_t * (WIDTH - 2 * PAD):.1f},"
            f"{HEIGHT - PAD - (v - low) / span_v * (HEIGHT - 2 * PAD):.1f}"
            for t, v in samples
        )
        charts.append(Series(name, unit, points, low, high, len(samples)))
    return charts

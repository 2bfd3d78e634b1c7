"""Energy from meter registers (Wh and kWh), duration and cost (excl. and incl. VAT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms_shared.ocpp.v16.enums import Location, Measurand, UnitOfMeasure, ValueFormat
from session_service.energy import Cost, cost, duration_seconds, energy_wh, register_wh, to_wh


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("1234", None, Decimal("1234")),
        ("1234", UnitOfMeasure.WH, Decimal("1234")),
        ("12.345", UnitOfMeasure.KWH, Decimal("12345.000")),
        (" 7.5 ", UnitOfMeasure.KWH, Decimal("7500.0")),
        ("1e3", UnitOfMeasure.WH, Decimal("1000")),
    ],
)
def test_energy_values_convert_to_wh(
    value: str, unit: UnitOfMeasure | None, expected: Decimal
) -> None:
    assert to_wh(value, unit) == expected


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("12", UnitOfMeasure.KVARH),
        ("12", UnitOfMeasure.W),
        ("abc", UnitOfMeasure.WH),
        ("NaN", UnitOfMeasure.WH),
        ("Infinity", UnitOfMeasure.KWH),
        ("", None),
    ],
)
def test_values_that_are_not_energy_in_wh_are_refused(
    value: str, unit: UnitOfMeasure | None
) -> None:
    assert to_wh(value, unit) is None


def _register(value: str = "5", **kw: object) -> Decimal | None:
    fields: dict[str, object] = {
        "measurand": None,
        "format": None,
        "phase": None,
        "location": None,
        "unit": None,
    }
    return register_wh(value, **(fields | kw))  # type: ignore[arg-type]


def test_absent_measurand_and_location_mean_the_outlet_import_register() -> None:
    assert _register("5") == Decimal(5)
    assert _register(
        "2.5",
        measurand=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER,
        location=Location.OUTLET,
        unit=UnitOfMeasure.KWH,
    ) == Decimal("2500.0")


@pytest.mark.parametrize(
    "kw",
    [
        {"measurand": Measurand.POWER_ACTIVE_IMPORT},
        {"measurand": Measurand.ENERGY_ACTIVE_EXPORT_REGISTER},
        {"measurand": Measurand.ENERGY_ACTIVE_IMPORT_INTERVAL},
        {"format": ValueFormat.SIGNED_DATA},
        {"phase": "L1"},
        {"location": Location.INLET},
        {"location": Location.EV},
    ],
)
def test_other_readings_are_not_the_transaction_register(kw: dict[str, object]) -> None:
    assert _register("5", **kw) is None


def test_energy_is_stop_minus_start() -> None:
    assert energy_wh(1000, 13500) == (12500, None)
    assert energy_wh(5, 5) == (0, None)


def test_meter_stop_below_start_counts_nothing_and_says_why() -> None:
    energy, warning = energy_wh(5000, 4000)
    assert energy == 0
    assert warning is not None and "below meterStart" in warning


def test_duration_in_whole_seconds_never_negative() -> None:
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert duration_seconds(start, start + timedelta(minutes=90, seconds=1.7)) == 5401
    assert duration_seconds(start, start - timedelta(hours=1)) == 0


@pytest.mark.parametrize(
    ("energy", "price", "fee", "expected"),
    [
        (12_500, Decimal("0.30"), Decimal("0"), Decimal("3.75")),
        (12_500, Decimal("0.30"), Decimal("1.00"), Decimal("4.75")),
        (0, Decimal("0.30"), Decimal("0.50"), Decimal("0.50")),
        (1, Decimal("0.30"), Decimal("0"), Decimal("0.00")),
        (15, Decimal("0.3333"), Decimal("0"), Decimal("0.00")),
        (16_666, Decimal("0.3"), Decimal("0"), Decimal("5.00")),
        (1_650, Decimal("0.3"), Decimal("0"), Decimal("0.50")),  # 0.495 rounds half up
    ],
)
def test_cost_is_fee_plus_energy_at_price_to_the_cent(
    energy: int, price: Decimal, fee: Decimal, expected: Decimal
) -> None:
    assert cost(energy, price, fee) == Cost(expected)


@pytest.mark.parametrize(
    ("seconds", "per_minute", "expected"),
    [
        (600, Decimal("0.10"), Decimal("4.75")),  # 3.75 + 1.00 for 10 minutes
        (90, Decimal("0.10"), Decimal("3.90")),  # by the second: 1.5 minutes
        (1, Decimal("0.0001"), Decimal("3.75")),  # a fraction of a cent rounds away
        (0, Decimal("5"), Decimal("3.75")),
    ],
)
def test_cost_adds_the_minutes_at_the_fee_per_minute(
    seconds: int, per_minute: Decimal, expected: Decimal
) -> None:
    price = Decimal("0.30")
    priced = cost(12_500, price, Decimal(0), per_minute_fee=per_minute, seconds=seconds)
    assert priced == Cost(expected)


def test_without_a_vat_rate_the_driver_pays_the_prices_total_as_before() -> None:
    priced = cost(
        12_500, Decimal("0.30"), Decimal("1.00"), per_minute_fee=Decimal("0.10"), seconds=90
    )
    assert priced == Cost(Decimal("4.90"), None)
    assert priced.billed == Decimal("4.90")


@pytest.mark.parametrize(
    ("energy", "seconds", "vat", "excl", "incl"),
    [
        (12_500, 0, Decimal(19), Decimal("3.75"), Decimal("4.46")),  # 4.4625 rounds down
        (10_000, 0, Decimal(19), Decimal("3.00"), Decimal("3.57")),
        (10_000, 0, Decimal("7.7"), Decimal("3.00"), Decimal("3.23")),  # 3.231
        (1_650, 0, Decimal(10), Decimal("0.50"), Decimal("0.55")),  # net rounded first: 0.495
        (35_000, 0, Decimal("21"), Decimal("10.50"), Decimal("12.71")),  # 12.705 rounds half up
        (10_000, 90, Decimal(20), Decimal("3.15"), Decimal("3.78")),  # 1.5 minutes at 0.10
        (10_000, 0, Decimal(0), Decimal("3.00"), Decimal("3.00")),  # a rate of 0 is stated
        (10_000, 0, Decimal(100), Decimal("3.00"), Decimal("6.00")),
        (0, 0, Decimal(19), Decimal("0.00"), Decimal("0.00")),
    ],
)
def test_with_a_vat_rate_vat_is_charged_on_the_net_total_to_the_cent(
    energy: int, seconds: int, vat: Decimal, excl: Decimal, incl: Decimal
) -> None:
    per_minute = Decimal("0.10") if seconds else Decimal(0)
    priced = cost(
        energy, Decimal("0.30"), Decimal(0), per_minute_fee=per_minute, seconds=seconds, vat=vat
    )
    assert priced == Cost(excl, incl)
    # What the driver pays and a 2.0.1 station is told.
    assert priced.billed == incl

"""The console's quantities: kWh with decimals that suit their size, money in its currency's
minor units, durations in words; nothing unreadable breaks a page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from command_api.console.formats import duration, kwh, money


@pytest.mark.parametrize(
    ("wh", "shown"),
    [
        (0, "0.000 kWh"),
        (150, "0.150 kWh"),
        (4000, "4.00 kWh"),
        ("12345.6", "12.35 kWh"),
        (123_456, "123.5 kWh"),
        (4_567_890, "4,568 kWh"),
        (-2500, "-2.50 kWh"),  # a net reading that fed the grid
        (None, ""),
        ("not a number", ""),
        (float("nan"), ""),
    ],
)
def test_energy_is_kwh_with_sensible_decimals(wh: object, shown: str) -> None:
    assert kwh(wh) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1.5, "EUR", "1.50 EUR"),
        ("2", "eur", "2.00 EUR"),
        ("0.125", "EUR", "0.13 EUR"),  # half up, as a bill rounds
        (1234.5, "USD", "1,234.50 USD"),
        (300, "JPY", "300 JPY"),
        ("1.2345", "KWD", "1.235 KWD"),
        (None, "EUR", ""),
        ("x", "EUR", ""),
        (3, None, "3.00"),
    ],
)
def test_money_has_its_currencys_minor_units(amount: object, currency: object, shown: str) -> None:
    assert money(amount, currency) == shown


T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stop", "shown"),
    [
        ("2026-11-22T10:00:45Z", "45 s"),
        ("2026-11-22T10:45:00Z", "45 min"),
        ("2026-11-22T11:05:00+00:00", "1 h 05 min"),
        ("2026-11-24T13:00:00Z", "2 d 3 h"),
        ("2026-11-22T09:00:00Z", ""),  # before the start
        (None, ""),  # still running
        ("yesterday", ""),
        ("2026-11-22T11:00:00", ""),  # naive against aware
    ],
)
def test_a_duration_is_said_in_words(stop: object, shown: str) -> None:
    assert duration(T0, stop) == shown
    assert duration(T0.isoformat(), stop) == shown

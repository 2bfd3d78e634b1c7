"""Energy, duration and cost (excl. and incl. VAT) of a transaction from its meter readings and
its parking time (pure logic, no I/O): the suite's one cost engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from csms_shared.ocpp.v16.enums import Location, Measurand, UnitOfMeasure, ValueFormat

CENT = Decimal("0.01")
_PERCENT = Decimal(100)
_TO_WH = {None: Decimal(1), UnitOfMeasure.WH: Decimal(1), UnitOfMeasure.KWH: Decimal(1000)}


def to_wh(value: str, unit: UnitOfMeasure | None) -> Decimal | None:
    """A sampled energy value in Wh (unit absent means Wh, OCPP 1.6 section 7.45); None if not."""
    factor = _TO_WH.get(unit)
    if factor is None:
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return number * factor


def register_wh(
    value: str,
    *,
    measurand: Measurand | None,
    format: ValueFormat | None,
    phase: str | None,
    location: Location | None,
    unit: UnitOfMeasure | None,
) -> Decimal | None:
    """The reading of the outlet's active import register in Wh, if this sampled value is one."""
    # Absent measurand means Energy.Active.Import.Register and absent location Outlet (7.45).
    if measurand not in (None, Measurand.ENERGY_ACTIVE_IMPORT_REGISTER):
        return None
    if format is ValueFormat.SIGNED_DATA or phase is not None:
        return None
    if location not in (None, Location.OUTLET):
        return None
    return to_wh(value, unit)


def energy_wh(meter_start: int, meter_stop: int) -> tuple[int, str | None]:
    """Energy between two register readings in Wh, and a warning when it would be negative."""
    if meter_stop < meter_start:
        return 0, f"meterStop {meter_stop} is below meterStart {meter_start}; energy counted as 0"
    return meter_stop - meter_start, None


def duration_seconds(start: datetime, stop: datetime) -> int:
    """Whole seconds from start to stop; never negative."""
    return max(0, int((stop - start).total_seconds()))


@dataclass(frozen=True, slots=True)
class Cost:
    """What a session costs, to the cent: excluding VAT (as the prices are), and including it
    when the tariff states the rate (None: the prices carry no VAT information)."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None

    @property
    def billed(self) -> Decimal:
        """What the driver pays, the figure a 2.0.1 station is told (totalCost): incl. VAT when
        the rate is known, else the prices' total."""
        return self.excl_vat if self.incl_vat is None else self.incl_vat


def cost(
    energy: int,
    price_per_kwh: Decimal,
    session_fee: Decimal,
    *,
    per_minute_fee: Decimal = Decimal(0),
    seconds: int = 0,
    parking_per_minute_fee: Decimal = Decimal(0),
    parking_seconds: int = 0,
    vat: Decimal | None = None,
) -> Cost:
    """What the session costs, to the cent: the fee, the energy at the price per kWh, its time
    at the fee per minute and its parking time (part of that time) at the parking fee per minute
    on top, both by the second (90 s cost 1.5 minutes). With a `vat` rate (percent), the VAT is
    charged on that rounded net total, as an invoice states it, and the gross rounded to the
    cent again."""
    amount = session_fee + Decimal(energy) / Decimal(1000) * price_per_kwh
    amount += Decimal(seconds) / Decimal(60) * per_minute_fee
    amount += Decimal(parking_seconds) / Decimal(60) * parking_per_minute_fee
    net = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if vat is None:
        return Cost(net)
    gross = net * (_PERCENT + vat) / _PERCENT
    return Cost(net, gross.quantize(CENT, rounding=ROUND_HALF_UP))

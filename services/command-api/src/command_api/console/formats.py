"""How the console writes quantities: energy in kWh with decimals that suit its size, money in
its currency's minor units, a duration in words. Jinja filters, registered in `web.py`."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not hundredths (the rest: two decimals).
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def kwh(wh: object) -> str:
    """Watt-hours as kWh: three decimals under 1 kWh, two under 100, one under 1,000, none
    above (a session's few kWh to a site's month); '' for none."""
    found = _decimal(wh)
    if found is None:
        return ""
    value = found / 1000
    size = abs(value)
    places = 3 if size < 1 else 2 if size < 100 else 1 if size < 1000 else 0
    return f"{value:,.{places}f} kWh"


def money(amount: object, currency: object) -> str:
    """An amount in its currency's minor units (EUR 2, JPY 0, KWD 3), with the code after it;
    '' for none."""
    found = _decimal(amount)
    if found is None:
        return ""
    code = str(currency or "").upper()
    places = _MINOR_UNITS.get(code, 2)
    rounded = found.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f} {code}".rstrip()


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def duration(start: object, stop: object) -> str:
    """How long from `start` to `stop` (datetimes or ISO strings): '45 s', '12 min', '1 h 05 min',
    '2 d 3 h'; '' when either is missing or unreadable, or stop is before start."""
    begun, ended = _moment(start), _moment(stop)
    if begun is None or ended is None:
        return ""
    try:
        seconds = int((ended - begun).total_seconds())
    except TypeError:  # one naive, one aware
        return ""
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"

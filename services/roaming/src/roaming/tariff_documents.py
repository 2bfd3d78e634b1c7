"""The suite's prices as an OCPI 2.2.1 Tariff: one serializer for a tariff published on its own
(the tariffs module) and for the prices a transaction copied (a CDR's tariff). The suite's
tariff engine bills a session fee, the energy by the Wh, the time by the second and the parking
time by the second on top: FLAT, ENERGY (per kWh, step 1 Wh), TIME (per hour, step 1 s) and
PARKING_TIME (per hour, step 1 s) price components, excluding VAT as OCPI's are, each with the
tariff's VAT rate (`vat`, percent) when it states one.

OCPI's TIME counts only the time charging and PARKING_TIME the rest, while the suite's fee per
minute runs for the whole session: a parked minute costs the fee per minute and the parking fee
together, so PARKING_TIME is their sum, stated whenever either is not 0 (TIME alone would leave
the parked minutes unpriced). The suite's parking is EVConnected, SuspendedEV or Idle; a pause
the site causes (SuspendedEVSE) is billed as TIME. Another OCPI version's price shape is another
function here, not another engine."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from .location_documents import Publisher
from .ocpi.tariffs import Tariff, TariffDimensionType

Amount = Decimal | float | int


def _decimal(value: Amount) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def ocpi_tariff_id(tariff_id: int | None) -> str:
    """A tariff's OCPI id: `T<id>`; the environment's prices (no tariff) are `DEFAULT`."""
    return f"T{tariff_id}" if tariff_id is not None else "DEFAULT"


def tariff(
    publisher: Publisher,
    *,
    tariff_id: int | None,
    currency: str,
    session_fee: Amount,
    price_per_kwh: Amount,
    per_minute_fee: Amount,
    last_updated: datetime,
    parking_per_minute_fee: Amount = 0,
    vat: Amount | None = None,
    name: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> Tariff:
    """The prices as an OCPI Tariff (see the module's docstring for its price components)."""
    per_minute, parking = _decimal(per_minute_fee), _decimal(parking_per_minute_fee)
    components: list[dict[str, object]] = [
        {"type": TariffDimensionType.FLAT, "price": _decimal(session_fee), "step_size": 1},
        {"type": TariffDimensionType.ENERGY, "price": _decimal(price_per_kwh), "step_size": 1},
    ]
    if per_minute:
        components.append(
            {"type": TariffDimensionType.TIME, "price": per_minute * 60, "step_size": 1}
        )
    if per_minute or parking:
        components.append(
            {
                "type": TariffDimensionType.PARKING_TIME,
                "price": (per_minute + parking) * 60,
                "step_size": 1,
            }
        )
    document: dict[str, object] = {
        "country_code": publisher.country_code,
        "party_id": publisher.party_id,
        "id": ocpi_tariff_id(tariff_id),
        "currency": currency,
        "elements": [{"price_components": components}],
        "start_date_time": valid_from,
        "end_date_time": valid_to,
        "last_updated": last_updated,
    }
    if vat is not None:
        for component in components:
            component["vat"] = _decimal(vat)
    if name:
        document["tariff_alt_text"] = [{"language": "en", "text": name[:512]}]
    return Tariff.model_validate(document)

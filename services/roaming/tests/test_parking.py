"""Parking time in what eMSPs get: a Tariff's PARKING_TIME price component (the fee per minute
and the parking fee together, since OCPI's TIME counts only the time charging), and a COMPLETED
Session's and CDR's last charging period with the parking time the session-service counted
(PARKING_TIME, its TIME reduced by as much), the CDR's total_parking_time; the cost never
recomputed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from csms_shared.contracts.resources import Transaction
from csms_shared.contracts.rpc_roaming_locations import GeoPoint, LocationSettings
from roaming import session_documents, tariff_documents
from roaming.location_documents import Publisher
from roaming.ocpi.locations import Connector
from roaming.ocpi.tokens import TokenType
from roaming.session_documents import Place, TokenRef

from .test_sessions import START, transaction

PUBLISHER = Publisher(country_code="DE", party_id="CSM", business_name="CSM")
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = TokenRef("NL", "EMS", "TAG", TokenType.RFID, "NL-EMS-C12345678-X", "platform")
PLACE = Place(
    location_id="LOC1",
    location=LocationSettings(
        address="Street 1",
        city="Berlin",
        country="DEU",
        coordinates=GeoPoint(latitude=52.5, longitude=13.4),
        time_zone="Europe/Berlin",
    ),
    evse_uid="CP*1",
    evse_emi3_id=None,
    connector=Connector.model_validate(
        {
            "id": "1",
            "standard": "IEC_62196_T2",
            "format": "SOCKET",
            "power_type": "AC_3_PHASE",
            "max_voltage": 400,
            "max_amperage": 32,
            "last_updated": AT,
        }
    ),
)


def _components(per_minute: str, parking: str, vat: Decimal | None = None) -> list[Any]:
    document = tariff_documents.tariff(
        PUBLISHER,
        tariff_id=4,
        currency="EUR",
        session_fee=0,
        price_per_kwh=Decimal("0.39"),
        per_minute_fee=Decimal(per_minute),
        parking_per_minute_fee=Decimal(parking),
        last_updated=AT,
        vat=vat,
    ).wire()
    return [
        (c["type"], c["price"], c.get("vat"))
        for c in document["elements"][0]["price_components"]
        if c["type"] in ("TIME", "PARKING_TIME")
    ]


@pytest.mark.parametrize(
    ("per_minute", "parking", "expected"),
    [
        ("0", "0", []),  # no time priced: neither component
        ("0", "0.10", [("PARKING_TIME", 6, None)]),
        ("0.05", "0", [("TIME", 3, None), ("PARKING_TIME", 3, None)]),
        ("0.05", "0.10", [("TIME", 3, None), ("PARKING_TIME", 9, None)]),
    ],
)
def test_parking_time_is_priced_at_both_fees_per_hour(
    per_minute: str, parking: str, expected: list[Any]
) -> None:
    assert _components(per_minute, parking) == expected


def test_the_parking_component_carries_the_vat_rate() -> None:
    assert _components("0.05", "0.10", Decimal(19)) == [
        ("TIME", 3, 19),
        ("PARKING_TIME", 9, 19),
    ]


def _ended(**fields: Any) -> Transaction:
    # 3725 s, 12.345 kWh; parking counted by the session-service at the stop.
    return Transaction.model_validate(transaction("CP", "TAG", ended=True, **fields))


def _dimensions(period: Any) -> dict[str, float]:
    return {d["type"]: d["volume"] for d in period["dimensions"]}


def test_the_last_period_carries_the_parking_time_and_its_time_the_rest() -> None:
    parked = _ended(parkingSeconds=1200, parkingPerMinuteFee=0.1, cost=11.42)
    [period] = [p.wire() for p in session_documents.periods(parked)]
    # 3725 s in all: 2525 s charging (0.7014 h), 1200 s parked (0.3333 h).
    assert _dimensions(period) == {"ENERGY": 12.345, "TIME": 0.7014, "PARKING_TIME": 0.3333}


def test_periods_sent_while_it_ran_stay_as_they_were() -> None:
    parked = _ended(parkingSeconds=1200)
    sent = {
        "last_updated": (START + timedelta(minutes=30)).isoformat(),
        "kwh": 6,
        "charging_periods": [
            {
                "start_date_time": START.isoformat(),
                "dimensions": [{"type": "ENERGY", "volume": 6}, {"type": "TIME", "volume": 0.5}],
            }
        ],
    }
    first, last = [p.wire() for p in session_documents.periods(parked, sent)]
    assert _dimensions(first) == {"ENERGY": 6, "TIME": 0.5}
    # 1925 s from the last update to the stop, 1200 of them parked.
    assert _dimensions(last) == {"ENERGY": 6.345, "TIME": 0.2014, "PARKING_TIME": 0.3333}


def test_a_last_period_shorter_than_the_parking_time_has_no_time_below_0() -> None:
    parked = _ended(parkingSeconds=3000)
    sent = {
        "last_updated": (START + timedelta(minutes=50)).isoformat(),
        "kwh": 12,
        "charging_periods": [
            {
                "start_date_time": START.isoformat(),
                "dimensions": [
                    {"type": "ENERGY", "volume": 12},
                    {"type": "TIME", "volume": 0.8333},
                ],
            }
        ],
    }
    _, last = [p.wire() for p in session_documents.periods(parked, sent)]
    assert _dimensions(last) == {"ENERGY": 0.345, "TIME": 0, "PARKING_TIME": 0.8333}


def test_the_cdr_states_the_parking_time_its_tariff_and_the_services_cost() -> None:
    parked = _ended(
        parkingSeconds=1200,
        parkingPerMinuteFee=0.1,
        cost=13.59,
        costExclVat=11.42,
        costInclVat=13.59,
        vat=19,
    )
    cdr = session_documents.cdr(parked, TOKEN, PLACE, PUBLISHER, AT).wire()
    assert (cdr["total_time"], cdr["total_parking_time"]) == (1.0347, 0.3333)
    # Taken as the session-service computed it: 1.50 + 12.345 x 0.39 + 62.08 min x 0.05
    # + 20 min x 0.10 = 11.42, never recomputed.
    assert cdr["total_cost"] == {"excl_vat": 11.42, "incl_vat": 13.59}
    [tariff] = cdr["tariffs"]
    parking = [c for c in tariff["elements"][0]["price_components"] if c["type"] == "PARKING_TIME"]
    assert parking == [{"type": "PARKING_TIME", "price": 9, "vat": 19, "step_size": 1}]
    assert "PARKING_TIME" in _dimensions(cdr["charging_periods"][-1])
    completed = session_documents.session(parked, TOKEN, PLACE, PUBLISHER, AT).wire()
    assert completed["charging_periods"] == cdr["charging_periods"]


def test_a_transaction_without_parking_time_states_none() -> None:
    # A stop by a session-service from before parking time: nothing said, nothing guessed.
    cdr = session_documents.cdr(_ended(), TOKEN, PLACE, PUBLISHER, AT).wire()
    assert "total_parking_time" not in cdr
    assert set(_dimensions(cdr["charging_periods"][-1])) == {"ENERGY", "TIME"}
    # Counted as none: 0 hours, no PARKING_TIME dimension.
    none = session_documents.cdr(_ended(parkingSeconds=0), TOKEN, PLACE, PUBLISHER, AT).wire()
    assert none["total_parking_time"] == 0
    assert set(_dimensions(none["charging_periods"][-1])) == {"ENERGY", "TIME"}

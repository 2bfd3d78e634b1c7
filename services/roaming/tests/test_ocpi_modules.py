"""The OCPI 2.2.1 module models (locations, tariffs, tokens, sessions, cdrs, commands): a complete
document of each validates and `.wire()` gives the same JSON back; what 2.2.1 forbids (a required
field missing, an unknown enum value, a string too long, a control character, a `+` list empty,
a broken cross-field rule) is refused with a ValidationError that names the field; DateTime reads
OCPI's forms and writes UTC with a Z.

The spec's own examples are checked too when a copy of the spec is at hand
(OCPI_SPEC_EXAMPLES, /tmp/ocpi-spec/examples by default); without it those tests skip."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from roaming.ocpi.cdrs import CDR, CdrDimensionType
from roaming.ocpi.commands import (
    COMMAND_BODIES,
    CancelReservation,
    CommandResponse,
    CommandResult,
    CommandType,
    ReserveNow,
    StartSession,
    StopSession,
    UnlockConnector,
)
from roaming.ocpi.energy_mix import EnergyMix
from roaming.ocpi.hours import ExceptionalPeriod, Hours, RegularHours
from roaming.ocpi.locations import (
    EVSE,
    Connector,
    ConnectorPatch,
    EvsePatch,
    EvseStatus,
    Location,
    LocationPatch,
    PublishTokenType,
)
from roaming.ocpi.sessions import (
    ChargingPreferences,
    ChargingPreferencesResponse,
    Session,
    SessionPatch,
)
from roaming.ocpi.tariffs import Tariff
from roaming.ocpi.tokens import AuthorizationInfo, LocationReferences, Token, TokenPatch
from roaming.ocpi.types import Response

# --- Documents: every field a realistic party would send, lists written out even when empty
# (the models write `*` lists as [] when absent, so a complete document comes back unchanged).

CONNECTOR_AC: dict[str, Any] = {
    "id": "1",
    "standard": "IEC_62196_T2",
    "format": "SOCKET",
    "power_type": "AC_3_PHASE",
    "max_voltage": 230,
    "max_amperage": 32,
    "max_electric_power": 22000,
    "tariff_ids": ["AC-STD", "AC-ADHOC"],
    "terms_and_conditions": "https://www.stadtwerke-beispiel.de/agb",
    "last_updated": "2024-05-02T08:15:00Z",
}

CONNECTOR_DC: dict[str, Any] = {
    "id": "1",
    "standard": "IEC_62196_T2_COMBO",
    "format": "CABLE",
    "power_type": "DC",
    "max_voltage": 920,
    "max_amperage": 200,
    "max_electric_power": 150000,
    "tariff_ids": ["DC-STD"],
    "last_updated": "2024-05-02T08:15:00Z",
}

EVSE_AC: dict[str, Any] = {
    "uid": "EVSE-0042-1",
    "evse_id": "DE*CSM*E0042*1",
    "status": "CHARGING",
    "status_schedule": [
        {
            "period_begin": "2024-06-03T06:00:00Z",
            "period_end": "2024-06-03T14:00:00Z",
            "status": "INOPERATIVE",
        }
    ],
    "capabilities": ["REMOTE_START_STOP_CAPABLE", "RFID_READER", "RESERVABLE", "UNLOCK_CAPABLE"],
    "connectors": [CONNECTOR_AC],
    "floor_level": "-1",
    "coordinates": {"latitude": "50.937612", "longitude": "6.960311"},
    "physical_reference": "P-1-07",
    "directions": [{"language": "de", "text": "Ebene -1, Stellplatz 7 neben den Aufzügen"}],
    "parking_restrictions": ["EV_ONLY", "PLUGGED"],
    "images": [],
    "last_updated": "2024-05-02T08:15:00Z",
}

EVSE_DC: dict[str, Any] = {
    "uid": "EVSE-0042-2",
    "evse_id": "DE*CSM*E0042*2",
    "status": "AVAILABLE",
    "status_schedule": [],
    "capabilities": [
        "REMOTE_START_STOP_CAPABLE",
        "CREDIT_CARD_PAYABLE",
        "CONTACTLESS_CARD_SUPPORT",
    ],
    "connectors": [CONNECTOR_DC],
    "floor_level": "0",
    "physical_reference": "HPC-1",
    "directions": [],
    "parking_restrictions": [],
    "images": [
        {
            "url": "https://www.stadtwerke-beispiel.de/img/hpc-1.jpg",
            "thumbnail": "https://www.stadtwerke-beispiel.de/img/hpc-1-thumb.jpg",
            "category": "CHARGER",
            "type": "jpeg",
            "width": 1600,
            "height": 1200,
        }
    ],
    "last_updated": "2024-04-30T17:02:41Z",
}

ENERGY_MIX: dict[str, Any] = {
    "is_green_energy": False,
    "energy_sources": [
        {"source": "GENERAL_GREEN", "percentage": 62.5},
        {"source": "GAS", "percentage": 25.3},
        {"source": "COAL", "percentage": 12.2},
    ],
    "environ_impact": [
        {"category": "CARBON_DIOXIDE", "amount": 143},
        {"category": "NUCLEAR_WASTE", "amount": 0.0004},
    ],
    "supplier_name": "Stadtwerke Beispiel",
    "energy_product_name": "Ökostrom Plus",
}

LOCATION: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "CSM",
    "id": "LOC-0042",
    "publish": True,
    "publish_allowed_to": [],
    "name": "Parkhaus Marktplatz",
    "address": "Marktplatz 5",
    "city": "Köln",
    "postal_code": "50667",
    "state": "Nordrhein-Westfalen",
    "country": "DEU",
    "coordinates": {"latitude": "50.937531", "longitude": "6.960279"},
    "related_locations": [
        {
            "latitude": "50.9377201",
            "longitude": "6.9598003",
            "name": {"language": "de", "text": "Einfahrt Hohe Straße"},
        }
    ],
    "parking_type": "PARKING_GARAGE",
    "evses": [EVSE_AC, EVSE_DC],
    "directions": [{"language": "en", "text": "Enter from Hohe Straße, chargers on level -1"}],
    "operator": {
        "name": "Stadtwerke Beispiel",
        "website": "https://www.stadtwerke-beispiel.de",
        "logo": {
            "url": "https://www.stadtwerke-beispiel.de/logo.png",
            "category": "OPERATOR",
            "type": "png",
            "width": 512,
            "height": 512,
        },
    },
    "owner": {"name": "Parkhaus Marktplatz GmbH"},
    "facilities": ["MALL", "CAFE", "TRAIN_STATION"],
    "time_zone": "Europe/Berlin",
    "opening_times": {
        "twentyfourseven": False,
        "regular_hours": [
            {"weekday": day, "period_begin": "06:00", "period_end": "23:30"} for day in range(1, 7)
        ],
        "exceptional_openings": [],
        "exceptional_closings": [
            {"period_begin": "2024-12-24T13:00:00Z", "period_end": "2024-12-26T05:00:00Z"}
        ],
    },
    "charging_when_closed": True,
    "images": [],
    "energy_mix": ENERGY_MIX,
    "last_updated": "2024-05-02T08:15:00Z",
}

TARIFF: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "CSM",
    "id": "AC-STD",
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_text": [
        {"language": "de", "text": "0,39 €/kWh; nach 4 Stunden 0,10 €/min Blockiergebühr."},
        {"language": "en", "text": "€0.39/kWh; after 4 hours an idle fee of €0.10/min."},
    ],
    "tariff_alt_url": "https://www.stadtwerke-beispiel.de/tarife/ac-std",
    "min_price": {"excl_vat": 1, "incl_vat": 1.19},
    "max_price": {"excl_vat": 50, "incl_vat": 59.5},
    "elements": [
        {
            "price_components": [{"type": "TIME", "price": 3, "vat": 19, "step_size": 60}],
            "restrictions": {"reservation": "RESERVATION", "day_of_week": []},
        },
        {
            "price_components": [
                {"type": "ENERGY", "price": 0.3277, "vat": 19, "step_size": 1},
                {"type": "FLAT", "price": 0, "step_size": 1},
            ]
        },
        {
            "price_components": [
                {"type": "PARKING_TIME", "price": 5.04, "vat": 19, "step_size": 60}
            ],
            "restrictions": {
                "start_time": "07:00",
                "end_time": "20:00",
                "start_date": "2024-01-01",
                "end_date": "2025-01-01",
                "min_kwh": 0.5,
                "max_kwh": 200,
                "min_current": 6,
                "max_current": 96,
                "min_power": 1.4,
                "max_power": 22,
                "min_duration": 14400,
                "max_duration": 86400,
                "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            },
        },
    ],
    "start_date_time": "2024-01-01T00:00:00Z",
    "end_date_time": "2024-12-31T23:00:00Z",
    "energy_mix": {
        "is_green_energy": True,
        "energy_sources": [],
        "environ_impact": [],
        "supplier_name": "Stadtwerke Beispiel",
    },
    "last_updated": "2023-12-15T10:00:00Z",
}

TOKEN: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EMP",
    "uid": "04A1B2C3D4E5F6",
    "type": "RFID",
    "contract_id": "NL-EMP-C00012345-K",
    "visual_number": "NL-EMP-000123-45",
    "issuer": "Example Mobility B.V.",
    "group_id": "FLEET-0815",
    "valid": True,
    "whitelist": "ALLOWED_OFFLINE",
    "language": "nl",
    "default_profile_type": "CHEAP",
    "energy_contract": {"supplier_name": "Groene Stroom NV", "contract_id": "GS-778812"},
    "last_updated": "2024-04-18T09:30:12Z",
}

CDR_TOKEN: dict[str, Any] = {
    "country_code": "NL",
    "party_id": "EMP",
    "uid": "04A1B2C3D4E5F6",
    "type": "RFID",
    "contract_id": "NL-EMP-C00012345-K",
}

SESSION: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "CSM",
    "id": "SES-2024-000731",
    "start_date_time": "2024-05-02T08:15:00Z",
    "kwh": 11.42,
    "cdr_token": CDR_TOKEN,
    "auth_method": "AUTH_REQUEST",
    "authorization_reference": "AUTH-9f2c1e",
    "location_id": "LOC-0042",
    "evse_uid": "EVSE-0042-1",
    "connector_id": "1",
    "meter_id": "EBZ-DD3-1234567",
    "currency": "EUR",
    "charging_periods": [
        {
            "start_date_time": "2024-05-02T08:15:00Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 11.42},
                {"type": "POWER", "volume": 10.8},
                {"type": "CURRENT", "volume": 47.1},
                {"type": "STATE_OF_CHARGE", "volume": 64},
            ],
            "tariff_id": "AC-STD",
        }
    ],
    "total_cost": {"excl_vat": 3.74, "incl_vat": 4.45},
    "status": "ACTIVE",
    "last_updated": "2024-05-02T09:20:00Z",
}

CDR_DOC: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "CSM",
    "id": "CDR-2024-000731",
    "start_date_time": "2024-05-02T08:15:00Z",
    "end_date_time": "2024-05-02T12:45:00Z",
    "session_id": "SES-2024-000731",
    "cdr_token": CDR_TOKEN,
    "auth_method": "AUTH_REQUEST",
    "authorization_reference": "AUTH-9f2c1e",
    "cdr_location": {
        "id": "LOC-0042",
        "name": "Parkhaus Marktplatz",
        "address": "Marktplatz 5",
        "city": "Köln",
        "postal_code": "50667",
        "state": "NRW",
        "country": "DEU",
        "coordinates": {"latitude": "50.937531", "longitude": "6.960279"},
        "evse_uid": "EVSE-0042-1",
        "evse_id": "DE*CSM*E0042*1",
        "connector_id": "1",
        "connector_standard": "IEC_62196_T2",
        "connector_format": "SOCKET",
        "connector_power_type": "AC_3_PHASE",
    },
    "meter_id": "EBZ-DD3-1234567",
    "currency": "EUR",
    "tariffs": [TARIFF],
    "charging_periods": [
        {
            "start_date_time": "2024-05-02T08:15:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 38.5}, {"type": "TIME", "volume": 4}],
            "tariff_id": "AC-STD",
        },
        {
            "start_date_time": "2024-05-02T12:15:00Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 0.5}],
            "tariff_id": "AC-STD",
        },
    ],
    "signed_data": {
        "encoding_method": "OCMF",
        "encoding_method_version": 1,
        "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsd0QL3qg==",
        "signed_values": [
            {
                "nature": "Start",
                "plain_data": 'OCMF|{"FV":"1.0","GI":"EBZ DD3","RD":[{"RV":1234.5,"RU":"kWh"}]}',
                "signed_data": "MEUCIQDrl6l0iF0nO0hY0s8kXW5Z9Vq1aYvD2w==",
            },
            {
                "nature": "End",
                "plain_data": 'OCMF|{"FV":"1.0","GI":"EBZ DD3","RD":[{"RV":1273.0,"RU":"kWh"}]}',
                "signed_data": "MEQCIGp2dYvQbCk3x3ZlZ8Wc1Fv4w7t6nA==",
            },
        ],
        "url": "https://www.stadtwerke-beispiel.de/transparenz/CDR-2024-000731",
    },
    "total_cost": {"excl_vat": 15.13, "incl_vat": 18.01},
    "total_fixed_cost": {"excl_vat": 0, "incl_vat": 0},
    "total_energy": 38.5,
    "total_energy_cost": {"excl_vat": 12.61, "incl_vat": 15.01},
    "total_time": 4.5,
    "total_time_cost": {"excl_vat": 0, "incl_vat": 0},
    "total_parking_time": 0.5,
    "total_parking_cost": {"excl_vat": 2.52, "incl_vat": 3},
    "remark": "Session ended by the EV (battery full).",
    "invoice_reference_id": "INV-2024-05-0042",
    "credit": False,
    "home_charging_compensation": False,
    "last_updated": "2024-05-02T12:46:03Z",
}

RESPONSE_URL = "https://emsp.example.com/ocpi/emsp/2.2.1/commands/START_SESSION/8f3c"

START_SESSION: dict[str, Any] = {
    "response_url": RESPONSE_URL,
    "token": TOKEN,
    "location_id": "LOC-0042",
    "evse_uid": "EVSE-0042-1",
    "connector_id": "1",
    "authorization_reference": "AUTH-9f2c1e",
}

RESERVE_NOW: dict[str, Any] = {
    "response_url": "https://emsp.example.com/ocpi/emsp/2.2.1/commands/RESERVE_NOW/77a1",
    "token": TOKEN,
    "expiry_date": "2024-05-02T08:45:00Z",
    "reservation_id": "RES-1001",
    "location_id": "LOC-0042",
    "evse_uid": "EVSE-0042-2",
    "authorization_reference": "AUTH-77a1",
}

STOP_SESSION: dict[str, Any] = {
    "response_url": "https://emsp.example.com/ocpi/emsp/2.2.1/commands/STOP_SESSION/9d0e",
    "session_id": "SES-2024-000731",
}

CANCEL_RESERVATION: dict[str, Any] = {
    "response_url": "https://emsp.example.com/ocpi/emsp/2.2.1/commands/CANCEL_RESERVATION/1b2",
    "reservation_id": "RES-1001",
}

UNLOCK_CONNECTOR: dict[str, Any] = {
    "response_url": "https://emsp.example.com/ocpi/emsp/2.2.1/commands/UNLOCK_CONNECTOR/3c4",
    "location_id": "LOC-0042",
    "evse_uid": "EVSE-0042-1",
    "connector_id": "1",
}

COMMAND_RESPONSE: dict[str, Any] = {
    "result": "ACCEPTED",
    "timeout": 30,
    "message": [{"language": "en", "text": "Command sent to the charge point."}],
}

COMMAND_RESULT: dict[str, Any] = {
    "result": "EVSE_OCCUPIED",
    "message": [
        {"language": "en", "text": "Another session is running on this EVSE."},
        {"language": "de", "text": "Auf diesem Ladepunkt läuft bereits ein Ladevorgang."},
    ],
}

AUTHORIZATION_INFO: dict[str, Any] = {
    "allowed": "ALLOWED",
    "token": TOKEN,
    "location": {"location_id": "LOC-0042", "evse_uids": ["EVSE-0042-1"]},
    "authorization_reference": "AUTH-9f2c1e",
    "info": {"language": "en", "text": "Welcome back!"},
}

CHARGING_PREFERENCES: dict[str, Any] = {
    "profile_type": "GREEN",
    "departure_time": "2024-05-02T16:00:00Z",
    "energy_need": 35,
    "discharge_allowed": False,
}

DOCUMENTS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (Location, LOCATION),
    (EVSE, EVSE_AC),
    (Connector, CONNECTOR_DC),
    (EnergyMix, ENERGY_MIX),
    (Tariff, TARIFF),
    (Token, TOKEN),
    (AuthorizationInfo, AUTHORIZATION_INFO),
    (Session, SESSION),
    (ChargingPreferences, CHARGING_PREFERENCES),
    (CDR, CDR_DOC),
    (StartSession, START_SESSION),
    (StopSession, STOP_SESSION),
    (ReserveNow, RESERVE_NOW),
    (CancelReservation, CANCEL_RESERVATION),
    (UnlockConnector, UNLOCK_CONNECTOR),
    (CommandResponse, COMMAND_RESPONSE),
    (CommandResult, COMMAND_RESULT),
]


def wire(model: type[BaseModel], doc: dict[str, Any]) -> dict[str, Any]:
    obj = model.model_validate(doc)
    out = obj.wire()  # type: ignore[attr-defined]
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize(("model", "doc"), DOCUMENTS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_complete_document_validates_and_wires_back_unchanged(
    model: type[BaseModel], doc: dict[str, Any]
) -> None:
    out = wire(model, doc)
    assert out == doc
    # and it is plain JSON: numbers stay numbers, enums their values
    assert json.loads(json.dumps(out)) == doc


def test_numbers_are_json_numbers_not_strings() -> None:
    out = wire(Tariff, TARIFF)
    component = out["elements"][1]["price_components"][0]
    assert component["price"] == 0.3277 and isinstance(component["price"], float)
    assert out["elements"][0]["price_components"][0]["step_size"] == 60
    assert isinstance(wire(CDR, CDR_DOC)["total_energy"], float)


def test_optional_fields_left_out_are_not_written() -> None:
    doc = {k: v for k, v in TOKEN.items() if k not in ("visual_number", "group_id", "language")}
    out = wire(Token, doc)
    assert "visual_number" not in out and "group_id" not in out and "language" not in out


def test_lists_left_out_default_to_empty() -> None:
    doc = copy.deepcopy(LOCATION)
    for key in ("publish_allowed_to", "related_locations", "evses", "directions", "images"):
        del doc[key]
    location = Location.model_validate(doc)
    assert location.evses == [] and location.publish_allowed_to == []
    assert Location.model_validate(doc).wire()["facilities"] == ["MALL", "CAFE", "TRAIN_STATION"]


# --- Refusals. A path is where in the document the change is made; `loc` is the field the
# ValidationError must name.

DELETE = object()


def changed(doc: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    target: Any = new
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return new


def refused_at(model: type[BaseModel], doc: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(doc)
    return [tuple(error["loc"]) for error in info.value.errors()]


MISSING = [
    (Location, ("address",)),
    (Location, ("coordinates",)),
    (Location, ("last_updated",)),
    (Location, ("evses", 0, "connectors")),
    (Location, ("evses", 1, "connectors", 0, "max_amperage")),
    (Location, ("coordinates", "longitude")),
    (Tariff, ("currency",)),
    (Tariff, ("elements",)),
    (Tariff, ("elements", 1, "price_components", 0, "step_size")),
    (Token, ("issuer",)),
    (Token, ("whitelist",)),
    (Token, ("contract_id",)),
    (AuthorizationInfo, ("token",)),
    (Session, ("cdr_token",)),
    (Session, ("kwh",)),
    (Session, ("charging_periods", 0, "dimensions", 0, "volume")),
    (ChargingPreferences, ("profile_type",)),
    (CDR, ("total_cost",)),
    (CDR, ("charging_periods",)),
    (CDR, ("cdr_location", "evse_id")),
    (CDR, ("signed_data", "signed_values", 0, "plain_data")),
    (StartSession, ("token",)),
    (StartSession, ("response_url",)),
    (ReserveNow, ("expiry_date",)),
    (StopSession, ("session_id",)),
    (CancelReservation, ("reservation_id",)),
    (UnlockConnector, ("connector_id",)),
    (CommandResponse, ("timeout",)),
    (CommandResult, ("result",)),
]


def document_of(model: type[BaseModel]) -> dict[str, Any]:
    return next(doc for m, doc in DOCUMENTS if m is model)


@pytest.mark.parametrize(("model", "path"), MISSING, ids=lambda v: str(getattr(v, "__name__", v)))
def test_a_required_field_missing_is_refused(
    model: type[BaseModel], path: tuple[str | int, ...]
) -> None:
    assert path in refused_at(model, changed(document_of(model), path, DELETE))


WRONG = [
    # enum values that are not OCPI's (or are, but in another case)
    (Location, ("parking_type",), "ROOFTOP"),
    (Location, ("facilities", 1), "COFFEE"),
    (Location, ("evses", 0, "status"), "available"),
    (Location, ("evses", 0, "capabilities", 0), "REMOTE_START"),
    (Location, ("evses", 0, "connectors", 0, "standard"), "TYPE_2"),
    (Location, ("evses", 0, "connectors", 0, "power_type"), "AC"),
    (Location, ("energy_mix", "energy_sources", 0, "source"), "HYDRO"),
    (Tariff, ("type",), "CHEAP"),
    (Tariff, ("elements", 1, "price_components", 0, "type"), "KWH"),
    (Tariff, ("elements", 2, "restrictions", "day_of_week", 0), "MON"),
    (Token, ("type",), "CARD"),
    (Token, ("whitelist",), "SOMETIMES"),
    (Token, ("default_profile_type",), "ECO"),
    (AuthorizationInfo, ("allowed",), "OK"),
    (Session, ("status",), "RUNNING"),
    (Session, ("auth_method",), "PIN"),
    (Session, ("charging_periods", 0, "dimensions", 0, "type"), "KWH"),
    (CDR, ("cdr_location", "connector_format"), "PLUG"),
    (CommandResponse, ("result",), "OK"),
    (CommandResult, ("result",), "SUCCESS"),
    # strings over their length (CiString(36), string(45), string(3), CiString(39), ...)
    (Location, ("id",), "L" * 37),
    (Location, ("city",), "C" * 46),
    (Location, ("postal_code",), "12345678901"),
    (Location, ("country",), "DEUT"),
    (Location, ("evses", 0, "evse_id"), "DE*CSM*E" + "0" * 41),
    (Location, ("evses", 0, "floor_level"), "-1000"),
    (Location, ("evses", 0, "physical_reference"), "P" * 17),
    (Location, ("operator", "name"), "N" * 101),
    (Location, ("directions", 0, "text"), "d" * 513),
    (Tariff, ("currency",), "EURO"),
    (Token, ("uid",), "0" * 37),
    (Token, ("issuer",), "I" * 65),
    (Session, ("meter_id",), "M" * 256),
    (CDR, ("id",), "C" * 40),
    (CDR, ("cdr_location", "address"), "A" * 46),
    (CDR, ("cdr_location", "state"), "S" * 21),
    (CDR, ("signed_data", "signed_values", 0, "nature"), "N" * 33),
    (StartSession, ("location_id",), "L" * 37),
    (StopSession, ("response_url",), "https://emsp.example.com/" + "x" * 231),
    # control characters in a string, anything but printable ASCII in a CiString
    (Location, ("name",), "Parkhaus\tMarktplatz"),
    (Location, ("address",), "Marktplatz 5\n"),
    (Location, ("id",), "KÖLN-0042"),
    (Location, ("time_zone",), "Europe/Berlin\r"),
    (Tariff, ("tariff_alt_text", 0, "text"), "0,39 €/kWh\nBlockiergebühr"),
    (Token, ("contract_id",), "NL-EMP-\x00C00012345"),
    (Token, ("visual_number",), "NL-EMP\x7f000123"),
    (Session, ("id",), "SES\x1b2024"),
    (CDR, ("remark",), "ended\x07"),
    (CommandResult, ("message", 0, "text"), "occupied\r\n"),
    (ReserveNow, ("reservation_id",), "RES\u20131001"),
    # numbers and patterns out of their range
    (Location, ("opening_times", "regular_hours", 0, "weekday"), 8),
    (Location, ("opening_times", "regular_hours", 0, "weekday"), 0),
    (Location, ("opening_times", "regular_hours", 0, "period_begin"), "24:00"),
    (Location, ("opening_times", "regular_hours", 0, "period_end"), "9:00"),
    (Location, ("coordinates", "latitude"), "50.9375"),
    (Location, ("coordinates", "longitude"), "6,960279"),
    (Location, ("evses", 0, "connectors", 0, "max_voltage"), -230),
    (Location, ("evses", 1, "images", 0, "width"), 100000),
    (Location, ("energy_mix", "energy_sources", 0, "percentage"), 100.5),
    (Tariff, ("elements", 2, "restrictions", "start_date"), "2024-13-01"),
    (Tariff, ("elements", 2, "restrictions", "end_time"), "20:60"),
    (Tariff, ("elements", 1, "price_components", 0, "step_size"), -1),
    (Tariff, ("tariff_alt_url",), "www.example.com/tariff"),
    (Location, ("last_updated",), "yesterday"),
    (Session, ("kwh",), "lots"),
    # `+` lists given empty
    (Location, ("evses", 0, "connectors"), []),
    (Tariff, ("elements",), []),
    (Tariff, ("elements", 0, "price_components"), []),
    (Session, ("charging_periods", 0, "dimensions"), []),
    (CDR, ("charging_periods",), []),
    (CDR, ("signed_data", "signed_values"), []),
    # a country code or party id of the wrong shape
    (Token, ("country_code",), "NLD"),
    (Token, ("party_id",), "EM"),
    (CDR, ("cdr_token", "party_id"), "E-P"),
]


@pytest.mark.parametrize(
    ("model", "path", "value"), WRONG, ids=lambda v: str(getattr(v, "__name__", v))[:40]
)
def test_a_value_2_2_1_forbids_is_refused_naming_its_field(
    model: type[BaseModel], path: tuple[str | int, ...], value: object
) -> None:
    assert path in refused_at(model, changed(document_of(model), path, value))


@pytest.mark.parametrize(
    ("model", "path", "value"),
    [
        (Location, ("id",), "L" * 36),
        (Location, ("city",), "C" * 45),
        (Location, ("evses", 0, "physical_reference"), "P" * 16),
        (CDR, ("id",), "C" * 39),
        (Token, ("issuer",), "I" * 64),
        (Location, ("coordinates", "latitude"), "-89.1234567"),
        (Location, ("coordinates", "longitude"), "-179.1234567"),
        (Location, ("opening_times", "regular_hours", 0, "period_end"), "23:59"),
        (Tariff, ("elements", 1, "price_components", 0, "step_size"), 0),
        (Session, ("evse_uid",), "#NA"),
    ],
    ids=lambda v: str(getattr(v, "__name__", v))[:40],
)
def test_a_value_at_its_limit_is_accepted(
    model: type[BaseModel], path: tuple[str | int, ...], value: object
) -> None:
    model.model_validate(changed(document_of(model), path, value))


def rule_refused(model: type[BaseModel], doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(doc)
    assert field in str(info.value)


def test_a_publish_token_identifies_a_token() -> None:
    PublishTokenType.model_validate({"visual_number": "0055375624", "issuer": "ANWB"})
    PublishTokenType.model_validate({"group_id": "FLEET-0815"})
    rule_refused(PublishTokenType, {"type": "RFID", "issuer": "ANWB"}, "group_id")
    rule_refused(PublishTokenType, {"uid": "04A1B2C3D4E5F6"}, "type")
    rule_refused(PublishTokenType, {"visual_number": "0055375624"}, "issuer")


def test_publish_allowed_to_only_on_a_location_not_published() -> None:
    allowed = [{"uid": "04A1B2C3D4E5F6", "type": "RFID"}]
    rule_refused(Location, LOCATION | {"publish_allowed_to": allowed}, "publish_allowed_to")
    hidden = Location.model_validate(LOCATION | {"publish": False, "publish_allowed_to": allowed})
    assert hidden.publish_allowed_to[0].type == "RFID"


def test_opening_hours_are_24_7_or_regular() -> None:
    rule_refused(Hours, {"twentyfourseven": False}, "regular_hours")
    rule_refused(
        Hours,
        {
            "twentyfourseven": True,
            "regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "20:00"}],
        },
        "regular_hours",
    )
    rule_refused(
        RegularHours, {"weekday": 1, "period_begin": "20:00", "period_end": "08:00"}, "period_end"
    )


def test_start_session_with_a_connector_names_its_evse() -> None:
    rule_refused(StartSession, changed(START_SESSION, ("evse_uid",), DELETE), "evse_uid")
    StartSession.model_validate(
        {k: v for k, v in START_SESSION.items() if k not in ("evse_uid", "connector_id")}
    )


def test_a_credit_cdr_references_the_cdr_it_credits() -> None:
    credit = CDR_DOC | {"id": "CDR-2024-000731-C", "credit": True}
    rule_refused(CDR, credit, "credit_reference_id")
    cdr = CDR.model_validate(credit | {"credit_reference_id": "CDR-2024-000731"})
    assert cdr.wire()["credit_reference_id"] == "CDR-2024-000731"


# --- PATCH bodies: anything may be left out but `last_updated`.

PATCHES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (LocationPatch, {"name": "Interparking Marktplatz", "last_updated": "2024-06-24T12:39:09Z"}),
    (EvsePatch, {"status": "REMOVED", "last_updated": "2024-06-24T12:39:09Z"}),
    (ConnectorPatch, {"tariff_ids": ["AC-2025"], "last_updated": "2024-06-24T12:39:09Z"}),
    (TokenPatch, {"valid": False, "last_updated": "2024-06-19T02:11:11Z"}),
    (
        SessionPatch,
        {
            "kwh": 15,
            "charging_periods": [
                {
                    "start_date_time": "2024-06-23T08:16:02Z",
                    "dimensions": [{"type": "ENERGY", "volume": 2.2}],
                }
            ],
            "total_cost": {"excl_vat": 0.8, "incl_vat": 0.95},
            "last_updated": "2024-06-23T08:16:02Z",
        },
    ),
]


@pytest.mark.parametrize(("model", "doc"), PATCHES, ids=lambda v: getattr(v, "__name__", ""))
def test_a_patch_carries_only_what_changes(model: type[BaseModel], doc: dict[str, Any]) -> None:
    assert wire(model, doc) == doc
    assert wire(model, {"last_updated": doc["last_updated"]}) == {
        "last_updated": doc["last_updated"]
    }


@pytest.mark.parametrize(("model", "doc"), PATCHES, ids=lambda v: getattr(v, "__name__", ""))
def test_a_patch_without_last_updated_is_refused(
    model: type[BaseModel], doc: dict[str, Any]
) -> None:
    assert ("last_updated",) in refused_at(model, changed(doc, ("last_updated",), DELETE))


def test_a_patch_still_refuses_what_the_object_would() -> None:
    stamp = {"last_updated": "2024-06-24T12:39:09Z"}
    assert ("status",) in refused_at(EvsePatch, {"status": "BROKEN"} | stamp)
    assert ("name",) in refused_at(LocationPatch, {"name": "x" * 256} | stamp)
    assert ("connectors",) in refused_at(EvsePatch, {"connectors": []} | stamp)
    assert ("whitelist",) in refused_at(TokenPatch, {"whitelist": "MAYBE"} | stamp)
    assert ("status",) in refused_at(SessionPatch, {"status": "DONE"} | stamp)
    evse = EvsePatch.model_validate({"status": "CHARGING"} | stamp)
    assert evse.status is EvseStatus.CHARGING and evse.connectors is None


# --- DateTime


@pytest.mark.parametrize(
    ("sent", "parsed", "written"),
    [
        (
            "2015-06-29T20:39:09Z",
            datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC),
            "2015-06-29T20:39:09Z",
        ),
        (
            "2015-06-29T20:39:09",
            datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC),
            "2015-06-29T20:39:09Z",
        ),
        (
            "2016-12-29T17:45:09.2Z",
            datetime(2016, 12, 29, 17, 45, 9, 200000, tzinfo=UTC),
            "2016-12-29T17:45:09.200Z",
        ),
        (
            "2016-12-29T17:45:09.2",
            datetime(2016, 12, 29, 17, 45, 9, 200000, tzinfo=UTC),
            "2016-12-29T17:45:09.200Z",
        ),
        (
            "2018-01-01T01:08:01.123Z",
            datetime(2018, 1, 1, 1, 8, 1, 123000, tzinfo=UTC),
            "2018-01-01T01:08:01.123Z",
        ),
    ],
)
def test_datetime_reads_ocpi_forms_and_writes_utc_with_z(
    sent: str, parsed: datetime, written: str
) -> None:
    period = ExceptionalPeriod.model_validate({"period_begin": sent, "period_end": sent})
    assert period.period_begin == parsed
    assert period.period_begin.utcoffset() is not None
    assert period.wire() == {"period_begin": written, "period_end": written}
    token = Token.model_validate(TOKEN | {"last_updated": sent})
    assert token.last_updated == parsed
    assert token.wire()["last_updated"] == written


def test_a_python_datetime_is_written_in_utc_with_z() -> None:
    session = Session.model_validate(
        SESSION | {"last_updated": datetime(2024, 5, 2, 9, 20, tzinfo=UTC)}
    )
    assert session.wire()["last_updated"] == "2024-05-02T09:20:00Z"


# --- Wiring between the modules


def test_every_command_has_its_body_model() -> None:
    assert set(COMMAND_BODIES) == set(CommandType)
    body = COMMAND_BODIES[CommandType.START_SESSION].model_validate(START_SESSION)
    assert isinstance(body, StartSession)


def test_shared_enums_and_answers() -> None:
    assert ChargingPreferencesResponse("PROFILE_TYPE_NOT_SUPPORTED").value == (
        "PROFILE_TYPE_NOT_SUPPORTED"
    )
    assert CdrDimensionType.STATE_OF_CHARGE == "STATE_OF_CHARGE"
    assert LocationReferences.model_validate({"location_id": "LOC-0042"}).evse_uids == []
    envelope = Response[list[Token]].model_validate(
        {"data": [TOKEN], "status_code": 1000, "timestamp": "2024-05-02T08:15:00Z"}
    )
    assert envelope.wire()["data"] == [TOKEN]


def test_cdrs_does_not_import_sessions() -> None:
    code = (
        "import sys, roaming.ocpi.cdrs; "
        "assert 'roaming.ocpi.sessions' not in sys.modules, 'cdrs imports sessions'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- The spec's own examples (only when a copy of the spec is at hand)

SPEC_EXAMPLES = Path(os.environ.get("OCPI_SPEC_EXAMPLES", "/tmp/ocpi-spec/examples"))

# Each example of these modules: the model it is, and the key it is wrapped in (if any).
SPEC_DOCUMENTS: dict[str, tuple[Any, str | None]] = {
    "cdr_example.json": (CDR, None),
    "location_energymix_example_complete.json": (EnergyMix, "energy_mix"),
    "location_energymix_example_energy_provider.json": (EnergyMix, "energy_mix"),
    "location_energymix_example_simple.json": (EnergyMix, "energy_mix"),
    "location_example.json": (Location, None),
    "location_example_parking_garage_opening_hours.json": (Location, None),
    "location_example_uc2_destination_charger.json": (Location, None),
    "location_example_uc3_destination_charger_not_published.json": (Location, None),
    "location_example_uc4_limited_visibility.json": (Location, None),
    "location_example_uc5_home_charge_point.json": (Location, None),
    "location_hours_247_open_exception_closing.json": (Hours, None),
    "location_hours_opening_hours_with_exceptional_closing.json": (Hours, None),
    "location_hours_opening_hours_with_exceptional_opening.json": (Hours, None),
    "location_patch_example_location.json": (LocationPatch, None),
    "location_patch_example_remove_evse.json": (EvsePatch, None),
    "location_patch_example_status.json": (EvsePatch, None),
    "location_patch_example_tariff.json": (ConnectorPatch, None),
    "location_regularhours_example.json": (Hours, "opening_times"),
    "session_example_1_simple_start.json": (Session, None),
    "session_example_2_short_finished.json": (Session, None),
    "session_patch_example_charging_period.json": (SessionPatch, None),
    "session_patch_example_total_cost.json": (SessionPatch, None),
    "tariff_1_simple_2hour.json": (Tariff, None),
    "tariff_2_alt_text.json": (Tariff, None),
    "tariff_3_alt_url.json": (Tariff, None),
    "tariff_4_complex.json": (Tariff, None),
    "tariff_5_free_of_charge.json": (Tariff, None),
    "tariff_6_025kwh_start_max_price.json": (Tariff, None),
    "tariff_8_simple_025kwh.json": (Tariff, None),
    "tariff_9_025kwh_start.json": (Tariff, None),
    "tariff_10_025kwh_parking_start.json": (Tariff, None),
    "tariff_11_not_possible_alt_text.json": (Tariff, None),
    "tariff_12_025kwh_min_price.json": (Tariff, None),
    "tariff_13_simple_3hour_5parking.json": (Tariff, None),
    "tariff_14_step_size.json": (Tariff, None),
    "tariff_15_reservation_5_euro_per_hour.json": (Tariff, None),
    "tariff_16_reservation_2_euro_fee_5_euro_per_hour.json": (Tariff, None),
    "tariff_17_reservation_with_expire_fee.json": (Tariff, None),
    "tariff_18_reservation_with_expire_time.json": (Tariff, None),
    "tariffrestriction_example_max_duration.json": (Tariff, None),
    "tariffrestriction_example_max_power.json": (Tariff, None),
    "token_example_1_app_user.json": (Token, None),
    "token_example_2_full_rfid.json": (Token, None),
    "token_patch_example.json": (TokenPatch, None),
    "token_put_example.json": (Token, None),
    "transport_and_format_get_token_example.json": (Response[Token], None),
    "transport_and_format_get_token_list_example.json": (Response[list[Token]], None),
}

# Examples that are wrong in the spec itself, and where: refused, as they should be.
SPEC_ERRATA: dict[str, tuple[Any, set[tuple[str | int, ...]]]] = {
    # An EVSE whose connector lacks power_type, max_voltage, max_amperage and last_updated, and
    # whose physical_reference is the number 3 (it also says "floor" for floor_level).
    "location_put_example_add_evse.json": (
        EVSE,
        {
            ("connectors", 0, "power_type"),
            ("connectors", 0, "max_voltage"),
            ("connectors", 0, "max_amperage"),
            ("connectors", 0, "last_updated"),
            ("physical_reference",),
        },
    ),
    # A Tariff PUT without last_updated, which Tariff requires.
    "tariff_put_example.json": (Tariff, {("last_updated",)}),
}

MODULE_PREFIXES = ("cdr", "location", "session", "tariff", "token", "command")


def spec_example(name: str) -> Any:
    path = SPEC_EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"no copy of the OCPI spec's example {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def covers(sent: Any, written: Any) -> bool:
    """Everything sent comes back equal (written may add the empty `*` lists)."""
    if isinstance(sent, dict):
        return isinstance(written, dict) and all(
            k in written and covers(v, written[k]) for k, v in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(written, list)
            and len(sent) == len(written)
            and all(covers(a, b) for a, b in zip(sent, written, strict=True))
        )
    return bool(sent == written)


@pytest.mark.parametrize("name", sorted(SPEC_DOCUMENTS))
def test_a_spec_example_validates_and_wires_back(name: str) -> None:
    model, key = SPEC_DOCUMENTS[name]
    document = spec_example(name)
    if key is not None:
        document = document[key]
    assert covers(document, model.model_validate(document).wire())


@pytest.mark.parametrize("name", sorted(SPEC_ERRATA))
def test_a_wrong_spec_example_is_refused_where_it_is_wrong(name: str) -> None:
    model, locs = SPEC_ERRATA[name]
    with pytest.raises(ValidationError) as info:
        model.model_validate(spec_example(name))
    assert {tuple(error["loc"]) for error in info.value.errors()} == locs


def test_every_spec_example_of_these_modules_is_checked() -> None:
    if not SPEC_EXAMPLES.is_dir():
        pytest.skip(f"no copy of the OCPI spec's examples at {SPEC_EXAMPLES}")
    names = {p.name for p in SPEC_EXAMPLES.glob("*.json") if p.name.startswith(MODULE_PREFIXES)}
    assert names <= set(SPEC_DOCUMENTS) | set(SPEC_ERRATA)

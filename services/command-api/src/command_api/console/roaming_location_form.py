"""The console's editor of a roaming location: the form's fields, named by their path in the
LocationSettings body (`evses.0.connectors.1.maxVoltage`) so that a refusal finds its field;
the body they make; the rows an operator adds and removes; and a refusal's problems by field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from csms_shared.contracts.rpc_roaming_locations import LocationId, LocationSettings

from ..problems import wire_loc

# OCPI 2.2.1's enumerations (mod_locations), offered as the form's choices; the roaming service
# checks them again and refuses (422) what OCPI does not have.
CAPABILITIES = (
    "CHARGING_PROFILE_CAPABLE",
    "CHARGING_PREFERENCES_CAPABLE",
    "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE",
    "DEBIT_CARD_PAYABLE",
    "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE",
    "UNLOCK_CAPABLE",
)
CONNECTOR_FORMATS = ("SOCKET", "CABLE")
CONNECTOR_STANDARDS = (
    *("CHADEMO", "CHAOJI"),
    *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"),
    *("GBT_AC", "GBT_DC"),
    "IEC_60309_2_single_16",
    *(f"IEC_60309_2_three_{amps}" for amps in (16, 32, 64)),
    *("IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO"),
    *("IEC_62196_T3A", "IEC_62196_T3C"),
    *("NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50"),
    *("NEMA_14_30", "NEMA_14_50"),
    *("PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S"),
)
FACILITIES = (
    *("HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA"),
    *("NATURE", "MUSEUM", "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP"),
    *("METRO_STATION", "TRAIN_STATION", "AIRPORT", "PARKING_LOT", "CARPOOL_PARKING"),
    *("FUEL_STATION", "WIFI"),
)
PARKING_RESTRICTIONS = ("EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES")
PARKING_TYPES = (
    *("ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET"),
    "UNDERGROUND_GARAGE",
)
POWER_TYPES = ("AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# A draft is the LocationSettings JSON as typed: every value a string (or a list of strings),
# lists of rows as lists; the form shows it and the body is made from it.
Draft = dict[str, Any]
_TOP = (
    "id",
    "name",
    "siteId",
    "address",
    "city",
    "postalCode",
    "state",
    "country",
    "timeZone",
    "parkingType",
    "chargingWhenClosed",
)
_HOURS = ("weekday", "periodBegin", "periodEnd")
_EVSE = ("uid", "chargePointId", "evseId", "emi3Id", "physicalReference", "floorLevel")
_EVSE_LISTS = ("capabilities", "parkingRestrictions")
_CONNECTOR = (
    "connectorId",
    "standard",
    "format",
    "powerType",
    "maxVoltage",
    "maxAmperage",
    "maxElectricPower",
    "tariffIds",
)


def blank_connector(number: int = 1) -> Draft:
    """A new connector row (its id the next number)."""
    return {name: str(number) if name == "connectorId" else "" for name in _CONNECTOR}


def blank_evse() -> Draft:
    """A new EVSE row with one connector."""
    return {
        **dict.fromkeys(_EVSE, ""),
        **{name: [] for name in _EVSE_LISTS},
        "coordinates": {"latitude": "", "longitude": ""},
        "connectors": [blank_connector()],
    }


def blank_hours() -> Draft:
    return {"weekday": "1", "periodBegin": "", "periodEnd": ""}


def new_draft() -> Draft:
    """The form of a new location: published, one EVSE with one connector."""
    return {
        **dict.fromkeys(_TOP, ""),
        "coordinates": {"latitude": "", "longitude": ""},
        "publish": True,
        "facilities": [],
        "openingTimes": {"twentyfourseven": False, "regularHours": []},
        "evses": [blank_evse()],
    }


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stored_draft(location_id: str, settings: LocationSettings) -> Draft:
    """The form of a stored location, filled in with its settings."""
    stored = settings.model_dump(mode="json", by_alias=True)
    opening = stored["openingTimes"] or {"twentyfourseven": False, "regularHours": []}
    return {
        **{name: _shown(stored.get(name)) for name in _TOP if name != "id"},
        "id": location_id,
        "coordinates": {k: _shown(v) for k, v in stored["coordinates"].items()},
        "publish": stored["publish"],
        "facilities": list(stored["facilities"]),
        "openingTimes": {
            "twentyfourseven": opening["twentyfourseven"],
            "regularHours": [
                {name: _shown(row[name]) for name in _HOURS} for row in opening["regularHours"]
            ],
        },
        "evses": [_stored_evse(evse) for evse in stored["evses"]],
    }


def _stored_evse(evse: dict[str, Any]) -> Draft:
    point = evse.get("coordinates") or {}
    return {
        **{name: _shown(evse.get(name)) for name in _EVSE},
        **{name: list(evse.get(name) or []) for name in _EVSE_LISTS},
        "coordinates": {k: _shown(point.get(k)) for k in ("latitude", "longitude")},
        "connectors": [
            {
                **{name: _shown(c.get(name)) for name in _CONNECTOR if name != "tariffIds"},
                "tariffIds": ", ".join(c.get("tariffIds") or []),
            }
            for c in evse["connectors"]
        ],
    }


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _indices(form: FormData, prefix: str) -> list[int]:
    """The rows under `prefix` (`evses`, `evses.0.connectors`) the form has, in order."""
    row = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return sorted({int(m.group(1)) for key in form if (m := row.match(key))})


def posted_draft(form: FormData) -> Draft:
    """The draft a posted form holds (rows numbered again from 0)."""
    hours = "openingTimes.regularHours"
    return {
        **{name: _text(form, name) for name in _TOP},
        "coordinates": {k: _text(form, f"coordinates.{k}") for k in ("latitude", "longitude")},
        "publish": form.get("publish") == "on",
        "facilities": [str(v) for v in form.getlist("facilities")],
        "openingTimes": {
            "twentyfourseven": form.get("openingTimes.twentyfourseven") == "on",
            "regularHours": [
                {name: _text(form, f"{hours}.{i}.{name}") for name in _HOURS}
                for i in _indices(form, hours)
            ],
        },
        "evses": [_posted_evse(form, f"evses.{i}") for i in _indices(form, "evses")],
    }


def _posted_evse(form: FormData, at: str) -> Draft:
    return {
        **{name: _text(form, f"{at}.{name}") for name in _EVSE},
        **{name: [str(v) for v in form.getlist(f"{at}.{name}")] for name in _EVSE_LISTS},
        "coordinates": {k: _text(form, f"{at}.coordinates.{k}") for k in ("latitude", "longitude")},
        "connectors": [
            {name: _text(form, f"{at}.connectors.{j}.{name}") for name in _CONNECTOR}
            for j in _indices(form, f"{at}.connectors")
        ],
    }


def changed(draft: Draft, change: str) -> tuple[Draft, str]:
    """The draft with a row added or removed (`add-evse`, `remove-connector-0-1`, ...), and
    the path of the field to focus after it: the new row's first, or the list's add button."""
    evses: list[Draft] = draft["evses"]
    hours: list[Draft] = draft["openingTimes"]["regularHours"]
    verb, _, where = change.partition("-")
    what, _, numbers = where.partition("-")
    at = [int(n) for n in numbers.split("-") if n.isdigit()]
    if (verb, what) == ("add", "evse"):
        evses.append(blank_evse())
        return draft, f"evses.{len(evses) - 1}.chargePointId"
    if (verb, what) == ("add", "hours"):
        hours.append(blank_hours())
        return draft, f"openingTimes.regularHours.{len(hours) - 1}.weekday"
    if (verb, what, len(at)) == ("remove", "evse", 1) and at[0] < len(evses):
        del evses[at[0]]
        return draft, "add-evse"
    if (verb, what, len(at)) == ("remove", "hours", 1) and at[0] < len(hours):
        del hours[at[0]]
        return draft, "add-hours"
    if (verb, what, len(at)) == ("add", "connector", 1) and at[0] < len(evses):
        connectors: list[Draft] = evses[at[0]]["connectors"]
        connectors.append(blank_connector(len(connectors) + 1))
        return draft, f"evses.{at[0]}.connectors.{len(connectors) - 1}.connectorId"
    if (verb, what, len(at)) == ("remove", "connector", 2) and at[0] < len(evses):
        connectors = evses[at[0]]["connectors"]
        if at[1] < len(connectors):
            del connectors[at[1]]
        return draft, f"add-connector-{at[0]}"
    return draft, ""


def _given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values typed in: an empty input is a field left out."""
    return {k: v for k, v in values.items() if v not in ("", None)}


def _names(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def settings(draft: Draft) -> LocationSettings:
    """The LocationSettings body the draft makes (ValidationError: the fields it refuses, by
    their path in the body). Numbers are read by the model, as the REST route reads them."""
    top = _given({name: draft[name] for name in _TOP if name != "id"})
    when_closed = top.pop("chargingWhenClosed", None)
    if when_closed is not None:
        top["chargingWhenClosed"] = {"true": True, "false": False}.get(when_closed, when_closed)
    opening = draft["openingTimes"]
    body: dict[str, Any] = {
        **top,
        "coordinates": _given(draft["coordinates"]),
        "publish": draft["publish"],
        "facilities": draft["facilities"],
        "evses": [_evse_body(evse) for evse in draft["evses"]],
    }
    # Neither 24/7 nor hours: the opening times are not stated (OCPI: unknown).
    if opening["twentyfourseven"] or opening["regularHours"]:
        body["openingTimes"] = {
            "twentyfourseven": opening["twentyfourseven"],
            "regularHours": [_given(row) for row in opening["regularHours"]],
        }
    return LocationSettings.model_validate(body)


def _evse_body(evse: Draft) -> dict[str, Any]:
    body = _given({name: evse[name] for name in _EVSE})
    body.update({name: evse[name] for name in _EVSE_LISTS})
    if _given(evse["coordinates"]):
        body["coordinates"] = _given(evse["coordinates"])
    body["connectors"] = [
        {
            **_given({name: c[name] for name in _CONNECTOR if name != "tariffIds"}),
            "tariffIds": _names(c["tariffIds"]),
        }
        for c in evse["connectors"]
    ]
    return body


_LOCATION_ID: TypeAdapter[str] = TypeAdapter(LocationId)


def location_id(draft: Draft) -> str:
    """The new location's id (ValidationError when it cannot be an OCPI Location id)."""
    return _LOCATION_ID.validate_python(draft["id"])


@dataclass
class Refusal:
    """Why the location was not saved: problems by the path of their field, those the form has
    no field for (with their path in words), and a conflict (409) or another answer."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    conflict: str = ""
    status: int = 422  # as the API answered: 409 a conflict, 503 the service away, ...

    def __bool__(self) -> bool:
        return bool(self.fields or self.general or self.conflict)

    def add_invalid(self, exc: ValidationError, where: Sequence[str | int] = ()) -> None:
        """The fields a model refused, at their path in the body (under `where`)."""
        for error in exc.errors():
            path = ".".join(str(p) for p in (*where, *wire_loc(error["loc"])))
            self.fields.setdefault(path or "location", error["msg"])

    def add_answer(self, exc: HTTPException) -> None:
        """The API's refusal: 409 a conflict; 422 its fields (those of the OCPI Location it
        names by their place in the document, which a nested field's row need not match, in
        words); anything else as it is."""
        detail = str(exc.detail)
        self.status = exc.status_code
        if exc.status_code == 409:
            self.conflict = detail
        elif exc.status_code == 422:
            for path, message in answer_problems(detail):
                if path == "location":
                    self.general.append(message)
                elif path in _TOP or path.startswith(("coordinates.", "openingTimes.")):
                    self.fields.setdefault(path, message)
                else:
                    self.general.append(f"In the OCPI Location, {shown_path(path)}: {message}")
        else:
            self.general.append(detail)

    def listed(self) -> list[str]:
        """Every problem in words, each with its field's path (`evses[0].connectors[1].x`)."""
        return [f"{shown_path(p)}: {m}" for p, m in self.fields.items()] + self.general


_PREFIX = "The location cannot be published: "
_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*$")


def answer_problems(detail: str) -> list[tuple[str, str]]:
    """The fields a 422 of the roaming service names (`path: why; path: why`); its whole text
    under `location` when it names none."""
    found = []
    for part in detail.removeprefix(_PREFIX).split("; "):
        path, sep, message = part.partition(": ")
        if not sep or not _PATH.match(path):
            return [("location", detail)]
        found.append((path, message))
    return found


def shown_path(path: str) -> str:
    """A body path as people read it: `evses.0.connectors.1.maxVoltage` is
    `evses[0].connectors[1].maxVoltage`."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)

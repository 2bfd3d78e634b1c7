"""A location as OCPI publishes it: the operator's settings (the API's LocationSettings) and the
EVSEs' statuses turned into a 2.2.1 Location, and our connector statuses into OCPI's EVSE status.
Pure: no database, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import available_timezones

from pydantic import ValidationError

from csms_shared.contracts.rpc_roaming_locations import (
    LocationEvse,
    LocationSettings,
)
from csms_shared.vocabulary.connectors import ConnectorState, evse_status

from .ocpi.locations import EVSE, Connector, EvseStatus, Location
from .ocpi.types import BusinessDetails, ci_key
from .settings import Settings

# Our connector status (the EVSE's, derived from its connectors') as OCPI's EVSE status.
_OCPI_STATUS = {
    ConnectorState.AVAILABLE: EvseStatus.AVAILABLE,
    ConnectorState.OCCUPIED: EvseStatus.CHARGING,
    ConnectorState.RESERVED: EvseStatus.RESERVED,
    ConnectorState.UNAVAILABLE: EvseStatus.INOPERATIVE,
    ConnectorState.FAULTED: EvseStatus.OUTOFORDER,
}


class LocationRefused(ValueError):
    """The settings cannot be published: the message says which field and why."""


def ocpi_status(online: bool | None, connectors: Iterable[ConnectorState]) -> EvseStatus:
    """An EVSE's OCPI status: UNKNOWN while its station is offline (`online` False; None when
    no connection was seen, which does not count as offline) or before any connector reported;
    else its connectors' status (docs/roaming.md has the table)."""
    if online is False:
        return EvseStatus.UNKNOWN
    derived = evse_status(connectors)
    return EvseStatus.UNKNOWN if derived is None else _OCPI_STATUS[derived]


def evse_uid(evse: LocationEvse) -> str:
    """The EVSE's OCPI uid: the one given, else its eMI3 id, else `<station>-<evse>`."""
    if evse.uid is not None:
        return evse.uid
    if evse.emi3_id is not None:
        return evse.emi3_id
    uid = f"{evse.charge_point_id}-{evse.evse_id}"
    if len(uid) > 36 or "/" in uid or not uid.isascii() or not uid.isprintable():
        raise LocationRefused(
            f"evses: give a uid (up to 36 printable characters, no /) to EVSE {evse.evse_id}"
            f" of {evse.charge_point_id!r}: its id cannot be made into one"
        )
    return uid


@dataclass(frozen=True, slots=True)
class EvseRecord:
    """An EVSE of the location as stored: its settings, its OCPI status, whether removed."""

    uid: str
    settings: LocationEvse
    status: EvseStatus
    status_at: datetime
    removed: bool


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who publishes: this CPO's country code, party id and name."""

    country_code: str
    party_id: str
    business_name: str
    business_website: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> Publisher:
        return cls(
            settings.country_code,
            settings.party_id,
            settings.business_name,
            settings.business_website,
        )


def check(settings: LocationSettings) -> None:
    """LocationRefused unless the settings make a valid Location: every EVSE uid and station
    EVSE once, connectors once per EVSE, a known time zone, OCPI's enumerations."""
    if settings.time_zone not in _zones():
        raise LocationRefused(f"timeZone: unknown IANA time zone {settings.time_zone!r}")
    uids: set[str] = set()
    stations: set[tuple[str, int]] = set()
    for evse in settings.evses:
        uid = ci_key(evse_uid(evse))
        if uid in uids:
            raise LocationRefused(f"evses: uid {evse_uid(evse)!r} is given twice")
        uids.add(uid)
        if (evse.charge_point_id, evse.evse_id) in stations:
            raise LocationRefused(
                f"evses: EVSE {evse.evse_id} of {evse.charge_point_id!r} is given twice"
            )
        stations.add((evse.charge_point_id, evse.evse_id))
        ids = [c.connector_id for c in evse.connectors]
        if len(set(ids)) != len(ids):
            raise LocationRefused(f"evses: a connector id of EVSE {evse_uid(evse)!r} is twice")


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def _point(latitude: float, longitude: float) -> dict[str, str]:
    return {"latitude": f"{latitude:.6f}", "longitude": f"{longitude:.6f}"}


def _evse(record: EvseRecord, updated_at: datetime) -> dict[str, object]:
    given = record.settings
    changed = max(updated_at, record.status_at)
    document: dict[str, object] = {
        "uid": record.uid,
        "evse_id": given.emi3_id,
        "status": record.status.value,
        "capabilities": given.capabilities,
        "connectors": [
            {
                "id": str(c.connector_id),
                "standard": c.standard,
                "format": c.format,
                "power_type": c.power_type,
                "max_voltage": c.max_voltage,
                "max_amperage": c.max_amperage,
                "max_electric_power": c.max_electric_power,
                "tariff_ids": c.tariff_ids,
                "last_updated": updated_at,
            }
            for c in given.connectors
        ],
        "floor_level": given.floor_level,
        "physical_reference": given.physical_reference,
        "parking_restrictions": given.parking_restrictions,
        "last_updated": changed,
    }
    if given.coordinates is not None:
        document["coordinates"] = _point(given.coordinates.latitude, given.coordinates.longitude)
    return document


def document(
    location_id: str,
    settings: LocationSettings,
    evses: list[EvseRecord],
    updated_at: datetime,
    publisher: Publisher,
) -> Location:
    """The OCPI Location: `evses` in their order (removed ones included, REMOVED);
    `last_updated` the newest of the settings' and the EVSEs' changes. LocationRefused when
    the settings do not make one (an enumeration value OCPI does not have, ...)."""
    operator = {"name": publisher.business_name, "website": publisher.business_website}
    built = [_evse(record, updated_at) for record in evses]
    raw: dict[str, object] = {
        "country_code": publisher.country_code,
        "party_id": publisher.party_id,
        "id": location_id,
        "publish": settings.publish,
        "name": settings.name,
        "address": settings.address,
        "city": settings.city,
        "postal_code": settings.postal_code,
        "state": settings.state,
        "country": settings.country,
        "coordinates": _point(settings.coordinates.latitude, settings.coordinates.longitude),
        "parking_type": settings.parking_type,
        "evses": built,
        "operator": BusinessDetails.model_validate(operator).wire(),
        "facilities": settings.facilities,
        "time_zone": settings.time_zone,
        "charging_when_closed": settings.charging_when_closed,
        "last_updated": max([updated_at, *(r.status_at for r in evses)]),
    }
    if settings.opening_times is not None:
        raw["opening_times"] = settings.opening_times.model_dump(by_alias=False)
    try:
        return Location.model_validate(raw)
    except ValidationError as exc:
        raise LocationRefused(_problems(exc)) from None


def evse_document(location: Location, uid: str) -> EVSE | None:
    return next((e for e in location.evses if ci_key(e.uid) == ci_key(uid)), None)


def connector_document(evse: EVSE, connector_id: str) -> Connector | None:
    return next((c for c in evse.connectors if ci_key(c.id) == ci_key(connector_id)), None)


def _problems(exc: ValidationError) -> str:
    """The first fields at fault, as the API names them (camelCase)."""
    found = []
    for error in exc.errors()[:3]:
        path = ".".join(_camel(str(p)) for p in error["loc"])
        found.append(f"{path}: {error['msg']}")
    return "; ".join(found)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)

"""The roaming service's locations as the API takes and shows them: a site published as an OCPI
Location, with what OCPP does not say (the address, the eMI3 EVSE ids, each connector's
standard, format and power), and each EVSE's published status."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from .resources_base import DateTime, Omit, Resource
from .rpc_base import BIGINT, ChargePointId, Paged, RpcParams

# An OCPI Location id (CiString(36)): letters, digits, `.`, `_` and `-`; compared without case.
LocationId = Annotated[
    str,
    StringConstraints(strict=True, min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._-]+$"),
]
# An OCPI EVSE uid (CiString(36)): printable ASCII, no `/` (it is a path segment).
EvseUid = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=36, pattern=r"^[!-.0-~]+$")
]
# An eMI3 EVSE id: "DE*CSM*E0001*1" (separators optional): country, operator, E, the rest.
Emi3EvseId = Annotated[
    str,
    StringConstraints(
        strict=True,
        max_length=48,
        pattern=r"^[A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?[Ee][A-Za-z0-9][A-Za-z0-9*]{0,30}$",
    ),
]
OcpiText = Annotated[
    str, StringConstraints(strict=True, min_length=1, pattern=r"^[^\x00-\x1F\x7F]*$")
]


class GeoPoint(RpcParams):
    """WGS 84, decimal degrees (published with 6 decimals)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class WeeklyHours(RpcParams):
    """A weekday's opening period in local time."""

    weekday: int = Field(ge=1, le=7, description="1 Monday ... 7 Sunday")
    period_begin: str = Field(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")
    period_end: str = Field(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")


class OpeningTimes(RpcParams):
    """Open around the clock, or in the regular hours given."""

    twentyfourseven: bool
    regular_hours: list[WeeklyHours] = Field(default_factory=list, max_length=50)


class LocationConnector(RpcParams):
    """A connector as OCPP does not describe it: its plug standard, socket or cable, power."""

    connector_id: int = Field(ge=1, le=100, description="Within the EVSE (a 1.6 connector: 1)")
    standard: str = Field(
        description="An OCPI ConnectorType: IEC_62196_T2, IEC_62196_T2_COMBO, CHADEMO, ..."
    )
    format: str = Field(description="SOCKET or CABLE")
    power_type: str = Field(
        description="AC_1_PHASE, AC_2_PHASE, AC_2_PHASE_SPLIT, AC_3_PHASE or DC"
    )
    max_voltage: int = Field(ge=0, le=100_000, description="V (line to neutral for AC_3_PHASE)")
    max_amperage: int = Field(ge=0, le=100_000, description="A")
    max_electric_power: int | None = Field(default=None, ge=0, le=10_000_000, description="W")
    tariff_ids: list[
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=36)]
    ] = Field(default_factory=list, max_length=20)


class LocationEvse(RpcParams):
    """An EVSE of a station published in the location: which one (charge point and OCPP EVSE
    number), its eMI3 id, what it offers, and its connectors."""

    uid: EvseUid | None = Field(
        default=None,
        description="The EVSE's OCPI uid, unique in the location; when left out, the eMI3 id, or"
        " `<chargePointId>-<evseId>`",
    )
    charge_point_id: ChargePointId
    evse_id: int = Field(ge=1, le=1000, description="The OCPP EVSE (a 1.6 connector n is EVSE n)")
    emi3_id: Emi3EvseId | None = Field(default=None, description='eMI3, e.g. "DE*CSM*E0001*1"')
    capabilities: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="OCPI Capability: RFID_READER, REMOTE_START_STOP_CAPABLE, RESERVABLE, ...",
    )
    physical_reference: Annotated[str, StringConstraints(strict=True, max_length=16)] | None = None
    floor_level: Annotated[str, StringConstraints(strict=True, max_length=4)] | None = None
    parking_restrictions: list[str] = Field(default_factory=list, max_length=5)
    coordinates: GeoPoint | None = None
    connectors: list[LocationConnector] = Field(min_length=1, max_length=32)


class LocationSettings(RpcParams):
    """A location as the operator describes it: where it is, when it is open, its EVSEs."""

    name: Annotated[str, StringConstraints(strict=True, max_length=255)] | None = None
    site_id: int | None = Field(default=None, ge=1, le=BIGINT, description="The site it is")
    publish: bool = Field(
        default=True, description="Whether eMSPs may show it in their apps and maps"
    )
    address: Annotated[OcpiText, StringConstraints(max_length=255)]
    city: Annotated[OcpiText, StringConstraints(max_length=45)]
    postal_code: Annotated[OcpiText, StringConstraints(max_length=10)] | None = None
    state: Annotated[OcpiText, StringConstraints(max_length=45)] | None = None
    country: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, e.g. DEU")
    coordinates: GeoPoint
    time_zone: str = Field(description="IANA, e.g. Europe/Berlin")
    parking_type: str | None = Field(
        default=None, description="OCPI ParkingType: ON_STREET, PARKING_LOT, ..."
    )
    facilities: list[str] = Field(default_factory=list, max_length=20)
    opening_times: OpeningTimes | None = None
    charging_when_closed: bool | None = None
    evses: list[LocationEvse] = Field(default_factory=list, max_length=500)


class PutLocation(RpcParams):
    """Publish a location (created, or replaced whole): pushed to every platform."""

    id: LocationId
    location: LocationSettings


class OfLocation(RpcParams):
    id: LocationId


class ListLocations(Paged):
    """A page of the locations, by id."""


class EvseState(Resource):
    """An EVSE as published: its uid, station and OCPI status."""

    uid: str
    charge_point_id: str
    evse_id: int
    status: str = Field(
        description="OCPI: AVAILABLE, CHARGING, RESERVED, INOPERATIVE, OUTOFORDER, UNKNOWN"
        " (offline, or never reported), REMOVED (taken out of the location)"
    )
    status_at: Omit[DateTime] = None


class RoamingLocation(Resource):
    """A location: the operator's settings, its EVSEs' published status, and the OCPI Location
    exactly as platforms get it."""

    id: str
    location: LocationSettings
    evses: list[EvseState]
    ocpi: dict[str, Any] = Field(description="The OCPI 2.2.1 Location document")
    created_at: DateTime
    last_updated: DateTime

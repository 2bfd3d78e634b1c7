"""The params of station-registry's RPC methods (the catalogue: `rpc.py`)."""

from __future__ import annotations

from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    field_validator,
)

from .rpc_base import (
    Paged,
    RpcParams,
)

# -- station-registry ------------------------------------------------------------------------


class OfChargePoint(RpcParams):
    """One charge point, by id."""

    id: str


class PageOfChargePoint(Paged, OfChargePoint):
    """A page of one charge point's records."""


# A string that may be empty (an empty filter filters nothing), never a number.
Filter = Annotated[str, StringConstraints(strict=True)]


class ListChargePoints(Paged):
    """Charge points, all or only those `online` (or offline), filtered as the REST query asks;
    decommissioned ones only when asked for."""

    online: bool | None = None
    search: Filter | None = None
    status: Filter | None = None
    tag: Filter | None = None
    q: Filter | None = None
    decommissioned: bool = False
    # Accepted, Pending or Rejected: what the CP was last told at boot.
    registration_status: Filter | None = None
    ocpp_version: Filter | None = None


class ListVariables(PageOfChargePoint):
    """A station's device model, filtered by part of the component's or the variable's name
    (any case)."""

    component: Annotated[Filter, StringConstraints(max_length=50)] | None = None
    variable: Annotated[Filter, StringConstraints(max_length=50)] | None = None


class ListStationMessages(PageOfChargePoint):
    """A 2.0.1 station's reports, newest first; of one action or all."""

    action: (
        Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9]{1,40}$")] | None
    ) = None


class ListConnectors(Paged):
    """Connectors, of every CP or of one."""

    charge_point_id: str | None = None


class ListOperations(PageOfChargePoint):
    """A CP's firmware updates, diagnostics and log uploads, of one `kind` or all."""

    kind: str | None = None


class Handshake(RpcParams):
    """A WebSocket handshake a gateway holds open, as the CP presented itself."""

    id: str
    tls: bool = False
    password: str | None = None
    client_cert_cn: str | None = None
    # Where it came from (the peer, or a trusted proxy's X-Forwarded-For): refusals are
    # recorded once per charge point and address a minute.
    address: str | None = Field(default=None, max_length=64)


class ChargePointIds(RpcParams):
    """Charge point ids to look up together."""

    ids: list[str] = Field(min_length=1, max_length=500)


class AuthorizeConnections(RpcParams):
    """Handshakes to decide on together (a reconnect storm), in order."""

    handshakes: list[Handshake] = Field(max_length=500)


def _printable(key: str) -> str:
    if not key.isprintable():
        raise ValueError("authorizationKey is printable characters")
    return key


# Security whitepaper: the Basic password (AuthorizationKey) is 16 to 40 characters.
AuthorizationKey = Annotated[
    str, StringConstraints(strict=True, min_length=16, max_length=40), AfterValidator(_printable)
]


class UpdateChargePointSettings(OfChargePoint):
    """Register a CP, or set its security profile and AuthorizationKey."""

    security_profile: int | None = Field(default=None, ge=0, le=3, strict=True)
    authorization_key: AuthorizationKey | None = None


class StageAuthorizationKey(OfChargePoint):
    """A new AuthorizationKey about to be sent to the CP."""

    authorization_key: AuthorizationKey


class DecommissionChargePoint(OfChargePoint):
    """Take a CP out of service; while it is connected only with `force`."""

    force: bool = False


CONNECTOR_TYPES = ("Type1", "Type2", "CCS1", "CCS2", "CHAdeMO", "GBT", "Tesla", "Schuko", "Other")
Text100Lax = Annotated[str, StringConstraints(min_length=1, max_length=100)]
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class Address(RpcParams):
    """Where the CP stands."""

    street: Text100Lax | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    city: Text100Lax | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = Field(
        default=None, description="ISO 3166-1 alpha-2"
    )


class Coordinates(RpcParams):
    """WGS 84."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class ConnectorInfo(RpcParams):
    """A connector's plug and maximum power."""

    connector_id: int = Field(ge=1, le=1000)
    connector_type: str | None = Field(default=None, description=", ".join(CONNECTOR_TYPES))
    max_power_kw: float | None = Field(default=None, gt=0, le=10_000)

    @field_validator("connector_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value not in CONNECTOR_TYPES:
            raise ValueError(f"connectorType is one of {', '.join(CONNECTOR_TYPES)}")
        return value


class MetadataPatch(RpcParams):
    """Fields given are set (null clears one); fields left out stay."""

    name: Text100Lax | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    address: Address | None = None
    coordinates: Coordinates | None = None
    timezone: str | None = Field(default=None, description="IANA, e.g. Europe/Berlin")
    tags: list[Tag] | None = Field(default=None, max_length=50)
    connectors: list[ConnectorInfo] | None = Field(default=None, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        if value is not None and value not in _zones():
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value


class UpdateChargePointMetadata(OfChargePoint):
    """An admin describes a CP: name, address, coordinates, time zone, tags, connectors."""

    patch: MetadataPatch

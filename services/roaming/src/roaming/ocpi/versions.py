"""The versions module (version_information_endpoint.asciidoc): a party's versions and, per
version, its endpoints by module and interface role."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .types import OcpiModel, Url


class VersionNumber(StrEnum):
    V2_0 = "2.0"
    V2_1 = "2.1"
    V2_1_1 = "2.1.1"
    V2_2 = "2.2"
    V2_2_1 = "2.2.1"


class ModuleId(StrEnum):
    CDRS = "cdrs"
    CHARGING_PROFILES = "chargingprofiles"
    COMMANDS = "commands"
    CREDENTIALS = "credentials"
    HUB_CLIENT_INFO = "hubclientinfo"
    LOCATIONS = "locations"
    SESSIONS = "sessions"
    TARIFFS = "tariffs"
    TOKENS = "tokens"


class InterfaceRole(StrEnum):
    SENDER = "SENDER"
    RECEIVER = "RECEIVER"


class Version(OcpiModel):
    """One OCPI version a party supports, and where its details are."""

    version: str = Field(description="a VersionNumber; one this service does not know is kept")
    url: Url


class Endpoint(OcpiModel):
    """One module's interface of a version, and its URL."""

    identifier: str = Field(description="a ModuleId; a module this service does not know is kept")
    role: InterfaceRole
    url: Url


class VersionDetails(OcpiModel):
    """A version's endpoints."""

    version: str
    endpoints: list[Endpoint] = Field(min_length=1)

    def url_of(self, module: ModuleId, role: InterfaceRole) -> str | None:
        """The URL of `module`'s `role` interface, None when the party has none."""
        for endpoint in self.endpoints:
            if endpoint.identifier == module.value and endpoint.role is role:
                return endpoint.url
        return None

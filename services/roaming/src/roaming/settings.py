"""Roaming settings, from `ROAMING_*` environment variables."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The roaming process: OCPI 2.2.1 in the CPO role, the owner of schema `roaming`."""

    model_config = settings_config("ROAMING_")

    internal_port: int = Field(
        default=8088, description="the roaming service's `/healthz`, `/readyz`, `/metrics`"
    )
    http_port: int = Field(
        default=8090,
        description="the OCPI interface eMSPs and hubs call (`/ocpi/versions`, `/ocpi/2.2.1/...`)",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8090/ocpi",
        pattern=r"^https?://[^\s]+[^/\s]$",
        description="where parties reach the OCPI interface from outside, without a trailing"
        " slash (behind the ingress: https://<host>/ocpi); the versions URL handed to parties is"
        " this plus `/versions`",
    )
    country_code: str = Field(
        default="DE",
        pattern=r"^[A-Z]{2}$",
        description="this CPO's ISO 3166-1 alpha-2 country code, as parties know it",
    )
    party_id: str = Field(
        default="CSM",
        pattern=r"^[A-Z0-9]{3}$",
        description="this CPO's party id (ISO 15118 / eMI3 operator id), as parties know it",
    )
    business_name: str = Field(
        default="CSMS operator",
        min_length=1,
        max_length=100,
        description="the operator's name in the credentials handed to parties",
    )
    business_website: str | None = Field(
        default=None, description="the operator's website in the credentials, if any"
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="seconds a call to a party's OCPI interface may take",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="JSON list of CIDRs a party's URLs may point into besides public addresses"
        ' (the tests allow `["127.0.0.0/8"]`); loopback, link-local, private and other'
        " non-public addresses are refused otherwise",
    )
    accept_plain_tokens: bool = Field(
        default=True,
        description="also accept a credentials token sent without Base64 (2.1.1 and early 2.2"
        " parties do); 2.2.1 parties encode it, and this service always does",
    )

    command_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="seconds a station has to answer a command an eMSP sent (OCPI commands); the"
        " CommandResponse's `timeout` is this plus 30 s, within which the CommandResult is POSTed",
    )
    session_update_interval: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="the shortest time, in seconds, between two updates of a running Session"
        " pushed to its eMSP (from the station's meter values: its kWh and a charging period"
        " more)",
    )
    push_concurrency: int = Field(
        default=8,
        ge=1,
        le=256,
        description="pushes to platforms (locations, ...) in flight at once, per process; pushes"
        " of one object to one platform always go one after the other, in order",
    )
    push_retry_max: float = Field(
        default=600.0,
        ge=1,
        le=86_400,
        description="the longest wait, in seconds, between two attempts of a push the platform"
        " did not take (the wait doubles from 2 s up to this); a push that failed in a way that"
        " may pass (no answer, HTTP 5xx, 408 or 429, OCPI 3xxx) is retried until it is taken,"
        " never given up while the platform is registered",
    )
    push_max_refusals: int = Field(
        default=5,
        ge=1,
        le=100,
        description="times in a row a platform may refuse a push for good (HTTP 4xx other than"
        " 408 and 429, or an OCPI 2xxx status: an error a retry cannot fix) before the push is"
        " dropped, so it no longer holds up the later pushes of its object",
    )
    push_poll_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="seconds between looks for pushes that are due (a change committed in this"
        " process wakes the pushes at once)",
    )
    push_log_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days a delivered or dropped push stays in the push log",
    )
    request_log_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="days an OCPI request a platform made stays in the request log (and a"
        " real-time authorization asked of an eMSP)",
    )
    authorize_timeout: float = Field(
        default=3.0,
        gt=0,
        le=20,
        description="seconds an eMSP has to answer a real-time authorization of its token"
        " (whitelist NEVER or ALLOWED_OFFLINE); without an answer ALLOWED_OFFLINE is accepted"
        " and NEVER refused. Keep it below SESSION_ROAMING_AUTHORIZE_TIMEOUT",
    )
    authorization_reuse: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="seconds an eMSP's ALLOWED for a token at a station is told again without"
        " asking (the StartTransaction after an Authorize); 0 asks every time",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return networks

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """`allowed_networks` as networks."""
        return [ipaddress.ip_network(n, strict=False) for n in self.allowed_networks]

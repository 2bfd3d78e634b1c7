"""command-api settings, from `API_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from csms_shared.bus.access import INTEGRATIONS, LOAD_MANAGER, ROAMING, check_roles
from csms_shared.bus.back_offices import check_back_offices
from csms_shared.outbound import Network
from csms_shared.settings import (
    BrokerSettings,
    CommonSettings,
    DatabaseSettings,
    json_or_commas,
    settings_config,
)

from .accounts.passwords import password_problem
from .auth import bootstrap_key_problem


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The command-api process."""

    model_config = settings_config("API_")

    http_port: int = Field(
        default=8080, description="command-api's port: the API, its docs and the console"
    )
    internal_port: int = Field(
        default=8083,
        description="`/healthz`, `/readyz`, `/metrics` (internal only: on their own port, so"
        " the API's ingress never serves them)",
    )
    admin_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("API_ADMIN_API_KEY", "CSMS_ADMIN_API_KEY"),
        description="the bootstrap admin key of command-api: at least 32 characters, no"
        " placeholder (`CHANGE-ME`, ...), or command-api refuses to start; no part of it is"
        " stored in clear",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("API_ADMIN_PASSWORD", "CSMS_ADMIN_PASSWORD"),
        description="password of user `admin`, created when no admin user exists: at least 12"
        " characters, no placeholder, or command-api refuses to start (`make up` makes one)",
    )
    token_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="key (32+ characters, no placeholder) signing access tokens and console"
        " cookies; unset, one generated key is kept in the database and shared by every"
        " replica",
    )
    access_token_seconds: int = Field(
        default=900,
        ge=60,
        le=86_400,
        description="lifetime of an access token from `POST /api/v1/auth/token`, seconds",
    )
    session_hours: float = Field(
        default=8.0, gt=0, le=24 * 30, description="lifetime of a console session, hours"
    )
    # `auto` is None.
    cookie_secure: bool | None = Field(
        default=None,
        description="`true` or `false` forces the `Secure` flag of the console's cookies"
        " (session and login CSRF); `auto` sets it when the request came over TLS, directly or"
        " per `X-Forwarded-Proto` of a proxy in `API_FORWARDED_ALLOW_IPS`",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="comma-separated addresses or CIDRs of the proxies whose `X-Forwarded-For`"
        " and `X-Forwarded-Proto` are believed (the client address the login limits count, the"
        " scheme `auto` reads); behind an ingress, its controller pods' network (the k8s base"
        " sets `10.244.0.0/16`: adapt it)",
    )
    # A username past its count is only slowed down, so strangers cannot lock it out.
    login_failures_per_user_and_address: int = Field(
        default=5,
        ge=1,
        description="failed logins (console or token) allowed per (username, client address)"
        " in the window; past them even the right password is refused from that address",
    )
    login_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="failed logins (console or token) allowed per client address in the"
        " window; past them even the right password is refused from that address",
    )
    login_failures_per_username: int = Field(
        default=5,
        ge=1,
        description="failed logins of a username (from anywhere) after which every attempt for"
        " it waits `API_LOGIN_DELAY_SECONDS`, doubled per further failure, at most"
        " `API_LOGIN_DELAY_MAX_SECONDS`: slowed down, never locked out",
    )
    login_failure_window_seconds: int = Field(
        default=900, ge=1, description="the window of those counts, seconds"
    )
    login_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="seconds a login attempt for a username past"
        " `API_LOGIN_FAILURES_PER_USERNAME` waits, doubled per further failure",
    )
    login_delay_max_seconds: float = Field(
        default=30.0, ge=0, le=600, description="the longest such wait, seconds"
    )
    streams_per_user: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="live views (server-sent events) a console user may hold open at once, on"
        " all replicas",
    )
    # Each argon2 check holds 64 MiB for ~50 ms.
    password_threads: int = Field(
        default=2, ge=1, le=64, description="argon2 threads for users' passwords"
    )
    password_checks_waiting: int = Field(
        default=16,
        ge=0,
        le=10_000,
        description="password checks queued for those threads at most; a login past that gets"
        " 503 with `Retry-After` at once",
    )
    command_timeout: float = Field(
        default=30.0, gt=0, description="default `?timeout=` of a command, seconds"
    )
    command_timeout_max: float = Field(
        default=300.0, gt=0, description="the largest `?timeout=` of a command, seconds"
    )
    rpc_timeout: float = Field(
        default=5.0, gt=0, description="seconds to wait for a service answering a read"
    )
    # csms_shared.ocpp.redaction.DEFAULT_ADMIN_KEYS always count.
    admin_configuration_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="vendor configuration keys that say where a CP connects or uploads (a"
        " backend URL), comma-separated or a JSON list: changing one needs the admin role, as"
        " the security and authorization keys do (`CentralSystemURL`, `CentralSystemAddress`,"
        " `OcppServerUrl`, `BackendUrl` always do)",
    )
    command_request_roles: list[str] = Field(
        default_factory=lambda: [INTEGRATIONS, LOAD_MANAGER, ROAMING],
        description="JSON list of broker roles (`CSMS_BROKER_USERS`) whose requests on"
        " `ocpp.command-requests` are run, as an operator (every back office sharing that user"
        " shares one identity; the load-manager sends its charging profiles this way, the"
        " roaming service eMSPs' commands, audited)",
    )
    back_offices: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object, broker user -> `viewer`, `operator` or `admin`: back offices"
        " with users of their own, each running its requests under its own name"
        " (`broker:<user>`) and role (a viewer sends none); `scripts/broker_users.py"
        " --back-office NAME=ROLE` makes the users",
    )
    read_configuration_at_boot: bool = Field(
        default=True,
        description="GetConfiguration to every 1.6 CP after each accepted BootNotification (the"
        " snapshot, and the SupportedFeatureProfiles commands are checked against);"
        " GetBaseReport FullInventory to every 2.0.1 station (its device model)",
    )
    local_list_resync: bool = Field(
        default=False,
        description="synchronise a CP's Local Authorization List again (Differential) when an"
        " id tag of the scope it was last synchronised to changes (or a token an eMSP pushed,"
        " for a list synchronised with roamingTokens); a CP offline then, once it connects",
    )
    local_list_resync_delay: float = Field(
        default=5.0,
        ge=0,
        description="seconds from a change to the re-synchronisation; changes within them go"
        " in one SendLocalList",
    )
    command_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="finished commands of the audit log and finished webhook deliveries older"
        " than this many days are deleted (pending ones stay), in batches, every 10 s; unset:"
        " kept for ever",
    )
    fleet_concurrency: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="CPs a fleet-wide command serves at once",
    )
    fleet_max_charge_points: int = Field(
        default=5000,
        ge=1,
        description="the most CPs one fleet-wide command may name or reach by tag",
    )
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="JSON list of CIDRs webhooks may target besides public addresses (the"
        ' tests allow `["127.0.0.0/8"]`); loopback, link-local, private and other non-public'
        " addresses are refused otherwise",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, le=60, description="seconds a webhook receiver has to answer"
    )
    webhook_retry_base: float = Field(
        default=5.0,
        gt=0,
        description="a failed delivery is tried again after base x 2^(attempt-1) seconds, at"
        " most `API_WEBHOOK_RETRY_MAX`",
    )
    webhook_retry_max: float = Field(
        default=3600.0,
        gt=0,
        description="the longest wait between two attempts of a delivery, seconds",
    )
    webhook_disable_after: float = Field(
        default=86400.0,
        gt=0,
        description="seconds of nothing but failures before a webhook is disabled and"
        " `webhook.disabled` published",
    )
    webhook_concurrency: int = Field(
        default=16,
        ge=1,
        le=500,
        description="deliveries a replica sends at once to one webhook (each webhook has its own"
        " delivery loop: a dead receiver holds only its own)",
    )
    webhook_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds between looks for due retries"
    )
    instance_id: str = Field(
        default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}",
        description="names this replica's reply queue `command-api.replies.<id>`",
    )

    # Its own name: reusing BrokerSettings._known_roles would replace that validator.
    @field_validator("command_request_roles")
    @classmethod
    def _known_request_roles(cls, roles: list[str]) -> list[str]:
        check_roles(roles)
        return roles

    @field_validator("back_offices")
    @classmethod
    def _back_office_roles(cls, offices: dict[str, str]) -> dict[str, str]:
        return check_back_offices(offices)

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return networks

    def webhook_networks(self) -> list[Network]:
        """The networks webhooks may target besides public addresses."""
        return [ipaddress.ip_network(n, strict=False) for n in self.webhook_allowed_networks]

    @field_validator("cookie_secure", mode="before")
    @classmethod
    def _auto_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "auto") else value

    @field_validator("forwarded_allow_ips", "admin_configuration_keys", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return json_or_commas(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, proxies: list[str]) -> list[str]:
        # uvicorn would take a misspelt entry, or a CIDR with host bits set, as a literal host
        # name that never matches.
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy)
            except ValueError:
                raise ValueError(f"{proxy!r} is neither an IP address nor a CIDR") from None
        return proxies

    @field_validator("admin_api_key", "admin_password", "token_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and k8s templates may pass an empty variable: that sets no key.
        return None if value == "" else value

    @field_validator("admin_api_key")
    @classmethod
    def _strong_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        problem = value is not None and bootstrap_key_problem(value.get_secret_value())
        if problem:
            raise ValueError(f"CSMS_ADMIN_API_KEY (or API_ADMIN_API_KEY) is refused: {problem}")
        return value

    @field_validator("token_secret")
    @classmethod
    def _strong_token_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # The same refusals as the bootstrap key: a secret from an example file signs tokens
        # anyone who read that file can mint.
        problem = value is not None and bootstrap_key_problem(value.get_secret_value())
        if problem:
            raise ValueError(f"API_TOKEN_SECRET is refused: {problem}")
        return value

    @field_validator("admin_password")
    @classmethod
    def _strong_admin_password(cls, value: SecretStr | None) -> SecretStr | None:
        problem = value is not None and password_problem(value.get_secret_value(), "admin")
        if problem:
            raise ValueError(f"CSMS_ADMIN_PASSWORD (or API_ADMIN_PASSWORD) is refused: {problem}")
        return value

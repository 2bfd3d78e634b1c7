"""command-api settings, from `API_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from csms_shared.bus.access import INTEGRATIONS, LOAD_MANAGER, check_back_offices, check_roles
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

    http_port: int = 8080
    # /healthz, /readyz and /metrics: on their own port, so the API's ingress never serves them.
    internal_port: int = 8083
    # The bootstrap admin key; `API_ADMIN_API_KEY` or the suite-wide `CSMS_ADMIN_API_KEY`.
    admin_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("API_ADMIN_API_KEY", "CSMS_ADMIN_API_KEY")
    )
    # The bootstrap user `admin`, made when no admin user exists; `API_ADMIN_PASSWORD` or the
    # suite-wide `CSMS_ADMIN_PASSWORD`.
    admin_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("API_ADMIN_PASSWORD", "CSMS_ADMIN_PASSWORD")
    )
    # Signs access tokens and console cookies; unset, a key generated once is kept in the
    # database (every replica shares it).
    token_secret: SecretStr | None = Field(default=None, min_length=32)
    access_token_seconds: int = Field(default=900, ge=60, le=86_400)
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # The console's cookies: `auto` (None) makes them Secure when the request came over TLS,
    # directly or per X-Forwarded-Proto of a trusted proxy; `true` or `false` forces it.
    cookie_secure: bool | None = None
    # Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For and -Proto uvicorn
    # believes: the client address the login limits count and the scheme `auto` reads.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )
    # Failed logins in the window: a (username, address) pair and an address past theirs are
    # refused, even the right password; a username past its count is only slowed down (each
    # attempt waits the delay, doubled per further failure), so strangers cannot lock it out.
    login_failures_per_user_and_address: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failures_per_username: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    login_delay_max_seconds: float = Field(default=30.0, ge=0, le=600)
    # Live views (server-sent events) one console user may hold open at once, on all replicas.
    streams_per_user: int = Field(default=10, ge=1, le=1000)
    # argon2 of users' passwords: threads of its own, and checks queued for them at most;
    # beyond, a login is answered 503 at once (each check holds 64 MiB for ~50 ms).
    password_threads: int = Field(default=2, ge=1, le=64)
    password_checks_waiting: int = Field(default=16, ge=0, le=10_000)
    command_timeout: float = Field(default=30.0, gt=0, description="default seconds per command")
    command_timeout_max: float = Field(default=300.0, gt=0)
    rpc_timeout: float = Field(default=5.0, gt=0)
    # Vendors' configuration keys that say where a CP connects or uploads (a backend URL):
    # changing one needs the admin role, as the security and authorization keys do
    # (`API_` or the suite-wide `CSMS_ADMIN_CONFIGURATION_KEYS`, a JSON list or comma-separated;
    # csms_shared.ocpp.redaction.DEFAULT_ADMIN_KEYS always count).
    admin_configuration_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Broker roles (CSMS_BROKER_USERS) whose messages on ocpp.command-requests are run, as an
    # operator; shared by every back office that logs in as the role's user. The load-manager
    # sends its charging profiles this way, so they are audited like anyone's commands.
    command_request_roles: list[str] = Field(default_factory=lambda: [INTEGRATIONS, LOAD_MANAGER])
    # Back offices with a broker user of their own (JSON user -> viewer|operator|admin): each
    # sends commands under its own name (`broker:<user>`) and role; a viewer may send none.
    back_offices: dict[str, str] = Field(default_factory=dict)
    # GetConfiguration to every CP after each accepted BootNotification (the snapshot, and the
    # SupportedFeatureProfiles that commands are checked against).
    read_configuration_at_boot: bool = True
    # Synchronise a CP's Local Authorization List again (Differential) when an id tag of the
    # scope it was last synchronised to changes: after this many seconds (changes within them
    # go in one SendLocalList), and for a CP offline then, once it connects.
    local_list_resync: bool = False
    local_list_resync_delay: float = Field(default=5.0, ge=0)
    # Finished commands (and webhook deliveries) older than this many days are deleted (None:
    # kept for ever); pending ones stay.
    command_retention_days: float | None = Field(default=None, gt=0)
    # Fleet-wide commands: CPs served at once, and the most one request may name or tag.
    fleet_concurrency: int = Field(default=20, ge=1, le=1000)
    fleet_max_charge_points: int = Field(default=5000, ge=1)
    # Webhooks: networks they may target besides public addresses (JSON list of CIDRs, e.g.
    # ["127.0.0.0/8"] in tests); loopback, link-local and private ones are refused otherwise.
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    # Retries wait base * 2^(attempt-1) seconds, at most max; a day of failures disables one.
    webhook_retry_base: float = Field(default=5.0, gt=0)
    webhook_retry_max: float = Field(default=3600.0, gt=0)
    webhook_disable_after: float = Field(default=86400.0, gt=0)
    webhook_concurrency: int = Field(default=16, ge=1, le=500)
    webhook_poll_interval: float = Field(default=1.0, gt=0)
    instance_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")

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

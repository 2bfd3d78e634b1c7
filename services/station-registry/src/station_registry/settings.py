"""Registry settings, from `REGISTRY_*` environment variables."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from csms_shared.settings import (
    BrokerSettings,
    CommonSettings,
    ConsumerSettings,
    DatabaseSettings,
    settings_config,
)


class UnknownChargePointPolicy(StrEnum):
    """What BootNotification answers a CP the registry has not accepted before."""

    ACCEPT = "accept"
    PENDING = "pending"
    REJECT = "reject"


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, ConsumerSettings, CommonSettings):
    """The station-registry process."""

    model_config = settings_config("REGISTRY_")

    internal_port: int = Field(
        default=8081,
        validation_alias=AliasChoices("REGISTRY_INTERNAL_PORT", "REGISTRY_HTTP_PORT"),
        description="`/healthz`, `/readyz`, `/metrics` (internal only, never exposed to charge"
        " points or operators; `REGISTRY_HTTP_PORT` is its older name)",
    )
    heartbeat_interval: int = Field(
        default=300,
        ge=1,
        description="heartbeat interval sent in BootNotification, seconds",
    )
    status_history_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="status notifications received more than this many days ago (the central"
        " system's clock, not the CP's `timestamp`) are deleted, in batches of 5,000, every"
        " `REGISTRY_RETENTION_INTERVAL` seconds; unset: kept for ever",
    )
    security_events_retention_days: float | None = Field(
        default=None,
        gt=0,
        description="security events (refused handshakes, what CPs report) received more than"
        " this many days ago are deleted, as status history is; unset: kept for ever",
    )
    # Bounded by default: a station's monitors may report events every few seconds.
    station_messages_retention_days: float | None = Field(
        default=30.0,
        gt=0,
        description="what 2.0.1 stations report without a table of its own (NotifyEvent,"
        " NotifyMonitoringReport, NotifyChargingLimit, ...; `registry.station_messages`) is"
        " deleted this many days after it arrived; unset: kept for ever",
    )
    retention_interval: float = Field(
        default=3600.0,
        gt=0,
        description="seconds between prunes of status history, security events and station"
        " messages",
    )
    device_model_max_attributes: int = Field(
        default=10_000,
        ge=1,
        description="attributes one 2.0.1 station's device model may hold (a real full"
        " inventory has a few thousand); new ones past it, from NotifyReport or a"
        " GetVariables/SetVariables answer, are refused with a `DeviceModelFull` security event"
        " (one a minute per station, with a count) and"
        " `csms_registry_device_model_refused_total`, the rest of the report kept",
    )
    # Secure by default: unknown ids are refused at the handshake (404) and every CP must
    # authenticate (profile 1 or above). `make up`, compose and the tests relax both for
    # development, and the registry says so loudly at start.
    unknown_charge_points: UnknownChargePointPolicy = Field(
        default=UnknownChargePointPolicy.REJECT,
        description="`reject`: unregistered ids refused at the handshake (404); `pending`:"
        " admitted as Pending, row made at BootNotification; `accept`: registered on first"
        " boot (`make up`: `accept`)",
    )
    min_security_profile: int = Field(
        default=1,
        ge=0,
        le=3,
        description="the profile every CP must at least connect with; 0 is for development"
        " only (`make up`: 0)",
    )
    pending_interval: int = Field(
        default=60,
        ge=1,
        description="seconds after which a Pending or Rejected CP boots again",
    )
    # Checked in a thread; older PBKDF2 hashes are still read.
    auth_hash_memory_kib: int = Field(
        default=19_456,
        ge=1024,
        description="argon2id memory cost of stored AuthorizationKeys, KiB (with"
        " `REGISTRY_AUTH_HASH_TIME_COST` OWASP's minimum: 19 MiB, 2 passes, 1 lane); older"
        " hashes are replaced at the CP's next good handshake",
    )
    auth_hash_time_cost: int = Field(
        default=2, ge=1, description="argon2id passes of stored AuthorizationKeys"
    )
    failed_auth_per_minute: float = Field(
        default=30.0,
        gt=0,
        description="failed key checks per CP id per minute (a token bucket); past them"
        " handshakes for that id get 429 without a check, except with a key verified in the"
        " last `REGISTRY_AUTH_SUCCESS_CACHE_SECONDS`",
    )
    failed_auth_burst: int = Field(
        default=10,
        ge=1,
        description="failed key checks one CP id may have at once beyond"
        " `REGISTRY_FAILED_AUTH_PER_MINUTE`",
    )
    auth_failure_cache_seconds: float = Field(
        default=10.0, ge=0, description="a wrong key is answered from memory this long"
    )
    auth_success_cache_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="a verified key is answered from memory this long, and passes its id's"
        " failed-check limit",
    )
    data_transfer_vendors: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON: vendorId -> accepted messageIds (`[]` = any), e.g."
        ' `{"com.acme": ["ping"], "com.any": []}`; others are answered UnknownVendorId /'
        " UnknownMessageId; all are recorded and published as events",
    )
    gateway_timeout_factor: float = Field(
        default=3.0,
        ge=1.5,
        description="a gateway whose beats are this many intervals overdue is asked after on"
        " the broker: its CPs are shown offline once its queue `gateway.<id>` (its AMQP"
        " connection) is gone, and stay online while it lasts (docs/ARCHITECTURE.md,"
        ' "Presence and takeover")',
    )
    presence_sweep_interval: float = Field(
        default=2.0, gt=0, description="seconds between presence sweeps"
    )

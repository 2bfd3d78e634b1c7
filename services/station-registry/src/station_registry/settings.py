"""Registry settings, from `REGISTRY_*` environment variables."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class UnknownChargePointPolicy(StrEnum):
    """What BootNotification answers a CP the registry has not accepted before."""

    ACCEPT = "accept"
    PENDING = "pending"
    REJECT = "reject"


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The station-registry process."""

    model_config = settings_config("REGISTRY_")

    # /healthz, /readyz and /metrics, never exposed to charge points or operators.
    internal_port: int = Field(
        default=8081,
        validation_alias=AliasChoices("REGISTRY_INTERNAL_PORT", "REGISTRY_HTTP_PORT"),
    )
    heartbeat_interval: int = Field(default=300, ge=1, description="seconds, sent in Boot")
    # Status notifications older than this many days are deleted (None: kept for ever).
    status_history_retention_days: float | None = Field(default=None, gt=0)
    # Security events (refused handshakes, what CPs report) older than this many days are
    # deleted (None: kept for ever).
    security_events_retention_days: float | None = Field(default=None, gt=0)
    # What 2.0.1 stations report into station_messages (NotifyEvent, NotifyMonitoringReport,
    # ...) older than this many days is deleted (None: kept for ever). Bounded by default: a
    # station's monitors may report events every few seconds.
    station_messages_retention_days: float | None = Field(default=30.0, gt=0)
    retention_interval: float = Field(default=3600.0, gt=0, description="seconds between prunes")
    # Attributes one 2.0.1 station's device model may hold (NotifyReport, GetVariables and
    # SetVariables results): a real full inventory has a few thousand. Past it a report's new
    # attributes are refused with a security event (DeviceModelFull), the rest kept.
    device_model_max_attributes: int = Field(default=10_000, ge=1)
    # Secure by default: unknown ids are refused at the handshake (404) and every CP must
    # authenticate (profile 1 or above). `make up`, compose and the tests relax both for
    # development, and the registry says so loudly at start.
    unknown_charge_points: UnknownChargePointPolicy = UnknownChargePointPolicy.REJECT
    min_security_profile: int = Field(default=1, ge=0, le=3)
    pending_interval: int = Field(default=60, ge=1, description="Boot retry while Pending")
    # AuthorizationKeys are stored as argon2id (OWASP: 19 MiB, 2 passes, 1 lane), checked in a
    # thread; older PBKDF2 hashes are still read and replaced at the CP's next good handshake.
    auth_hash_memory_kib: int = Field(default=19_456, ge=1024)
    auth_hash_time_cost: int = Field(default=2, ge=1)
    # Failed checks per CP id (a token bucket): past it, handshakes for that id are refused
    # without hashing, unless they repeat a key verified recently.
    failed_auth_per_minute: float = Field(default=30.0, gt=0)
    failed_auth_burst: int = Field(default=10, ge=1)
    # A failed key is answered from memory for this long; a good one for auth_success_cache.
    auth_failure_cache_seconds: float = Field(default=10.0, ge=0)
    auth_success_cache_seconds: float = Field(default=3600.0, ge=0)
    # DataTransfer from CPs: vendorId -> the messageIds accepted ([] = any). Others are answered
    # UnknownVendorId / UnknownMessageId; all are recorded and published as events.
    data_transfer_vendors: dict[str, list[str]] = Field(default_factory=dict)
    gateway_timeout_factor: float = Field(default=3.0, ge=1.5)
    presence_sweep_interval: float = Field(default=2.0, gt=0)

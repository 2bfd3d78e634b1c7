"""Registry settings, from `REGISTRY_*` environment variables."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings


class UnknownChargePointPolicy(StrEnum):
    """What BootNotification answers a CP the registry has not accepted before."""

    ACCEPT = "accept"
    PENDING = "pending"
    REJECT = "reject"


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The station-registry process."""

    # validate_by_name: `Settings(internal_port=...)` besides its two environment names.
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", validate_by_name=True)

    # /healthz, /readyz and /metrics, never exposed to charge points or operators.
    internal_port: int = Field(
        default=8081,
        validation_alias=AliasChoices("REGISTRY_INTERNAL_PORT", "REGISTRY_HTTP_PORT"),
    )
    heartbeat_interval: int = Field(default=300, ge=1, description="seconds, sent in Boot")
    unknown_charge_points: UnknownChargePointPolicy = UnknownChargePointPolicy.ACCEPT
    pending_interval: int = Field(default=60, ge=1, description="Boot retry while Pending")
    auth_hash_iterations: int = Field(default=10_000, ge=1_000)
    # DataTransfer from CPs: vendorId -> the messageIds accepted ([] = any). Others are answered
    # UnknownVendorId / UnknownMessageId; all are recorded and published as events.
    data_transfer_vendors: dict[str, list[str]] = Field(default_factory=dict)
    gateway_timeout_factor: float = Field(default=3.0, ge=1.5)
    presence_sweep_interval: float = Field(default=2.0, gt=0)

"""Session-service settings, from `SESSION_*` environment variables."""

from __future__ import annotations

from decimal import Decimal
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


class UnknownIdTagPolicy(StrEnum):
    """What Authorize and StartTransaction answer for an idTag that is not in the auth list."""

    REJECT = "reject"  # idTagInfo.status Invalid
    ACCEPT = "accept"  # idTagInfo.status Accepted (free vending, test sites)


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, ConsumerSettings, CommonSettings):
    """The session-service process."""

    model_config = settings_config("SESSION_")

    internal_port: int = Field(
        default=8082,
        validation_alias=AliasChoices("SESSION_INTERNAL_PORT", "SESSION_HTTP_PORT"),
        description="`/healthz`, `/readyz`, `/metrics` (internal only, never exposed to charge"
        " points or operators; `SESSION_HTTP_PORT` is its older name)",
    )
    unknown_id_tags: UnknownIdTagPolicy = Field(
        default=UnknownIdTagPolicy.REJECT,
        description="an idTag not in the list: `reject` answers Invalid, `accept` Accepted"
        " (free vending, test sites)",
    )
    roaming_authorize_timeout: float = Field(
        default=5.0,
        gt=0,
        le=25,
        description="seconds to wait for the roaming service's real-time authorization of an"
        " eMSP's token (whitelist NEVER or ALLOWED_OFFLINE); without an answer ALLOWED_OFFLINE"
        " is accepted and NEVER refused. Above ROAMING_AUTHORIZE_TIMEOUT, below the gateways'"
        " GATEWAY_CALL_TIMEOUT",
    )
    # As stored on each transaction: Numeric(12, 4) and Numeric(12, 2).
    tariff_price_per_kwh: Decimal = Field(
        default=Decimal("0.30"),
        ge=0,
        max_digits=12,
        decimal_places=4,
        description="the fallback tariff, for transactions no tariff of `/tariffs` applies to:"
        " price per kWh, fixed on a transaction when it starts",
    )
    tariff_session_fee: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        max_digits=12,
        decimal_places=2,
        description="the fallback tariff: fee per transaction",
    )
    tariff_currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="the fallback tariff: ISO 4217 currency of prices and costs",
    )
    stale_after: float = Field(
        default=86_400.0,
        gt=0,
        description="seconds without a sign of life (start, meter values) before an open"
        " transaction is flagged stale",
    )
    sweep_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between sweeps (stale transactions, expired reservations)",
    )
    clock_skew: float = Field(
        default=300.0,
        ge=0,
        description="seconds a CP's timestamp may lie ahead of ours before it is recorded with"
        " a warning and idTags are judged at our time",
    )
    # Meter values are partitioned by UTC month (meter_partitions.py).
    meter_values_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="a month partition of meter values whose every row is older than this"
        " many days is dropped whole; unset: kept for ever",
    )
    meter_values_partitions_ahead: int = Field(
        default=2,
        ge=1,
        le=24,
        description="month partitions of meter values created ahead of the current one, so a"
        " month's first write never waits for DDL",
    )
    partition_interval: float = Field(
        default=3600.0,
        gt=0,
        description="seconds between meter value partition maintenance runs",
    )

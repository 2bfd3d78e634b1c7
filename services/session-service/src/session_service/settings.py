"""Session-service settings, from `SESSION_*` environment variables."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class UnknownIdTagPolicy(StrEnum):
    """What Authorize and StartTransaction answer for an idTag that is not in the auth list."""

    REJECT = "reject"  # idTagInfo.status Invalid
    ACCEPT = "accept"  # idTagInfo.status Accepted (free vending, test sites)


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The session-service process."""

    model_config = settings_config("SESSION_")

    # /healthz, /readyz and /metrics, never exposed to charge points or operators.
    internal_port: int = Field(
        default=8082,
        validation_alias=AliasChoices("SESSION_INTERNAL_PORT", "SESSION_HTTP_PORT"),
    )
    unknown_id_tags: UnknownIdTagPolicy = UnknownIdTagPolicy.REJECT
    # As stored on each transaction: Numeric(12, 4) and Numeric(12, 2).
    tariff_price_per_kwh: Decimal = Field(
        default=Decimal("0.30"), ge=0, max_digits=12, decimal_places=4
    )
    tariff_session_fee: Decimal = Field(default=Decimal("0"), ge=0, max_digits=12, decimal_places=2)
    tariff_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    stale_after: float = Field(default=86_400.0, gt=0, description="seconds without a sign of life")
    sweep_interval: float = Field(default=30.0, gt=0, description="seconds between sweeps")
    clock_skew: float = Field(default=300.0, ge=0, description="future seconds tolerated")
    # Meter values are partitioned by UTC month (meter_partitions.py): a month whose every row
    # is older than this many days is dropped whole (None: kept for ever).
    meter_values_retention_days: int | None = Field(default=None, ge=1)
    # Months created ahead of the current one, so a month's first write never waits for DDL.
    meter_values_partitions_ahead: int = Field(default=2, ge=1, le=24)
    partition_interval: float = Field(
        default=3600.0, gt=0, description="seconds between partition maintenance runs"
    )

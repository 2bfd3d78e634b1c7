"""Message log settings, from `MESSAGE_LOG_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The message-log process: the writer of schema `messages` and its reads."""

    model_config = settings_config("MESSAGE_LOG_")

    # /healthz, /readyz and /metrics.
    internal_port: int = 8086
    # Day partitions older than this many days before today are dropped (whole tables).
    retention_days: int = Field(default=7, ge=1, le=3650)
    # Partitions are created this many days ahead, so midnight never waits for DDL.
    partitions_ahead: int = Field(default=2, ge=1, le=60)
    maintenance_interval: float = Field(default=3600.0, gt=0)
    # One COPY carries the records of the bundles that arrived within this wait, up to the max.
    batch_max_records: int = Field(default=10_000, ge=1)
    batch_wait_ms: float = Field(default=100.0, ge=0, le=10_000)
    # Bundles delivered and not yet stored, at most.
    records_prefetch: int = Field(default=64, ge=1, le=10_000)
    # The records queue holds at most this many bundles; beyond it the broker refuses new ones
    # and the gateways drop and count them (the log must never grow without bound).
    queue_max_bundles: int = Field(default=100_000, ge=1)
    # A read answers at most this many records per page.
    max_page: int = Field(default=1000, ge=1)

"""Message log settings, from `MESSAGE_LOG_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The message-log process: the writer of schema `messages` and its reads."""

    model_config = settings_config("MESSAGE_LOG_")

    internal_port: int = Field(
        default=8086, description="`/healthz`, `/readyz`, `/metrics` (internal only)"
    )
    retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="day partitions older than this many days before today are dropped (whole"
        " tables, never a row-by-row DELETE)",
    )
    partitions_ahead: int = Field(
        default=2,
        ge=1,
        le=60,
        description="day partitions created ahead, so midnight never waits for DDL",
    )
    maintenance_interval: float = Field(
        default=3600.0, gt=0, description="seconds between partition maintenance runs"
    )
    batch_max_records: int = Field(default=10_000, ge=1, description="records per COPY at most")
    batch_wait_ms: float = Field(
        default=100.0,
        ge=0,
        le=10_000,
        description="one COPY carries the records of the bundles that arrived within this many"
        " ms, up to `MESSAGE_LOG_BATCH_MAX_RECORDS`",
    )
    records_prefetch: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="log bundles delivered to the writer and not yet stored, at most",
    )
    # The log must never grow without bound.
    queue_max_bundles: int = Field(
        default=100_000,
        ge=1,
        description="bundles the writer's queue holds; beyond, the broker refuses them (the"
        " gateways drop and count). Set when the queue is first declared",
    )
    max_page: int = Field(default=1000, ge=1, description="records per page of a read at most")

"""Settings every service composes: the broker, the database, logging, the health port."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class BrokerSettings(BaseModel):
    """RabbitMQ; `<PREFIX>BROKER_URL`, else the suite-wide `CSMS_BROKER_URL`."""

    broker_url: str = Field(default_factory=lambda: _env("CSMS_BROKER_URL", DEFAULT_BROKER_URL))
    prefetch: int = Field(default=200, ge=1, le=10_000)


class DatabaseSettings(BaseModel):
    """Postgres; `<PREFIX>DATABASE_URL`, else the suite-wide `CSMS_DATABASE_URL`."""

    database_url: str = Field(
        default_factory=lambda: _env("CSMS_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # Prepared statements keep one generic plan (see csms_shared.db.create_engine).
    database_generic_plans: bool = True


def _secret_keys() -> list[str]:
    value = os.environ.get("CSMS_SECRET_CONFIGURATION_KEYS", "")
    return [key.strip() for key in value.split(",") if key.strip()]


class CommonSettings(BaseModel):
    """Logging and the HTTP port for /healthz, /readyz and /metrics."""

    # Configuration keys whose values are never stored, published, logged or shown
    # (AuthorizationKey always is); `<PREFIX>SECRET_CONFIGURATION_KEYS` (JSON list) or the
    # suite-wide `CSMS_SECRET_CONFIGURATION_KEYS` (comma-separated).
    secret_configuration_keys: list[str] = Field(default_factory=_secret_keys)
    log_level: str = Field(default_factory=lambda: _env("CSMS_LOG_LEVEL", "INFO"))
    log_json: bool = False
    http_host: str = "0.0.0.0"

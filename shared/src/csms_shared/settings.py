"""Settings every service composes: the broker, the database, logging, the health port."""

from __future__ import annotations

import os

import orjson
from pydantic import BaseModel, Field, field_validator

from .bus.access import ROLES, check_roles, user_of

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _suite_broker_url() -> str:
    return _env("CSMS_BROKER_URL", DEFAULT_BROKER_URL)


def default_broker_users() -> dict[str, str]:
    """`CSMS_BROKER_USERS` (JSON role -> user), else every role as `CSMS_BROKER_URL`'s user."""
    raw = os.environ.get("CSMS_BROKER_USERS")
    if raw:
        users = orjson.loads(raw)
        if not isinstance(users, dict) or not all(isinstance(u, str) for u in users.values()):
            raise ValueError("CSMS_BROKER_USERS must be a JSON object of role -> broker user")
        check_roles(users)
        return users
    # Unset: every role is the suite-wide URL's user (guest locally), one trust domain.
    return dict.fromkeys(ROLES, user_of(_suite_broker_url()))


class BrokerSettings(BaseModel):
    """RabbitMQ; `<PREFIX>BROKER_URL`, else the suite-wide `CSMS_BROKER_URL`."""

    broker_url: str = Field(default_factory=_suite_broker_url)
    prefetch: int = Field(default=200, ge=1, le=10_000)
    # Role -> the broker user it logs in as (`CSMS_BROKER_USERS`, JSON): RPC servers accept a
    # caller by the AMQP user_id the broker verified, so this says who that user is.
    broker_users: dict[str, str] = Field(default_factory=default_broker_users)

    @field_validator("broker_users")
    @classmethod
    def _known_roles(cls, users: dict[str, str]) -> dict[str, str]:
        check_roles(users)
        return users


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

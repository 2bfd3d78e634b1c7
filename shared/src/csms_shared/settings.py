"""Settings every service composes: the broker, the database, logging, the health port."""

from __future__ import annotations

import os
from typing import Annotated, Literal

import orjson
from pydantic import AliasChoices, AliasGenerator, BaseModel, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from .bus.access import ROLES, check_roles, user_of
from .bus.nodes import broker_urls
from .heap import GC_THRESHOLDS

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# Fields every process also reads under a suite-wide `CSMS_<NAME>`, after its own prefixed name.
SUITE_WIDE = frozenset(
    {
        "admin_configuration_keys",
        "broker_url",
        "broker_users",
        "database_url",
        "log_level",
        "log_json",
        "gc_thresholds",
        "secret_configuration_keys",
    }
)


def settings_config(env_prefix: str) -> SettingsConfigDict:
    """A service's settings config: `<env_prefix><NAME>` first, then `CSMS_<NAME>` where shared."""

    def env_names(field: str) -> str | AliasChoices:
        own = f"{env_prefix}{field}".upper()
        return AliasChoices(own, f"CSMS_{field}".upper()) if field in SUITE_WIDE else own

    # validate_by_name: `Settings(broker_url=...)` as well as the environment names.
    return SettingsConfigDict(
        env_prefix=env_prefix,
        alias_generator=AliasGenerator(validation_alias=env_names),
        validate_by_name=True,
    )


def _every_role_as_suite_user() -> dict[str, str]:
    # Unset: every role is the suite-wide URL's user (guest locally), one trust domain.
    return dict.fromkeys(ROLES, user_of(os.environ.get("CSMS_BROKER_URL", DEFAULT_BROKER_URL)))


def default_broker_users() -> dict[str, str]:
    """`CSMS_BROKER_USERS` (JSON role -> user), else every role as `CSMS_BROKER_URL`'s user."""
    raw = os.environ.get("CSMS_BROKER_USERS")
    if not raw:
        return _every_role_as_suite_user()
    users = orjson.loads(raw)
    if not isinstance(users, dict) or not all(isinstance(u, str) for u in users.values()):
        raise ValueError("CSMS_BROKER_USERS must be a JSON object of role -> broker user")
    check_roles(users)
    return users


class BrokerSettings(BaseModel):
    """RabbitMQ; `<PREFIX>BROKER_URL`, else the suite-wide `CSMS_BROKER_URL`."""

    # Parsed by bus/nodes.py; bus/connection.py moves to the next node when one fails.
    broker_url: str = Field(
        default=DEFAULT_BROKER_URL,
        description="RabbitMQ: one node's AMQP URL, or a cluster's nodes separated by commas (a"
        " process connects to one of them and moves to the next when it fails)",
    )
    prefetch: int = Field(default=200, ge=1, le=10_000, description="AMQP prefetch per consumer")
    broker_users: dict[str, str] = Field(
        default_factory=_every_role_as_suite_user,
        description="JSON object, role -> the broker user it logs in as: RPC servers accept a"
        " caller by the AMQP user_id the broker verified, so this says who that user is"
        ' (docs/deploy.md, "Broker users")',
    )

    @field_validator("broker_url")
    @classmethod
    def _amqp_nodes(cls, url: str) -> str:
        broker_urls(url)
        return url

    @field_validator("broker_users")
    @classmethod
    def _known_roles(cls, users: dict[str, str]) -> dict[str, str]:
        check_roles(users)
        return users


class DatabaseSettings(BaseModel):
    """Postgres; `<PREFIX>DATABASE_URL`, else the suite-wide `CSMS_DATABASE_URL`."""

    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="Postgres")
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Postgres connections of a service (one serves its outbox relay and probes;"
        " a third of the rest its RPCs)",
    )
    # See csms_shared.db.create_engine.
    database_generic_plans: bool = Field(
        default=True,
        description="prepared statements keep one generic plan (`plan_cache_mode="
        "force_generic_plan`) instead of being planned again on every execution",
    )


def json_or_commas(value: object) -> object:
    """A list setting's environment text, a JSON list or comma-separated, as a list (for a
    `mode="before"` validator of a `NoDecode` field); anything else as it is."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return orjson.loads(value)
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class CommonSettings(BaseModel):
    """Logging and the HTTP port for /healthz, /readyz and /metrics."""

    secret_configuration_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="configuration keys (1.6) and variables (2.0.1, by name or"
        " `Component.Variable`) whose values are never stored, published, logged or shown:"
        " redacted like `AuthorizationKey` and `SecurityCtrlr.BasicAuthPassword` (always) in"
        " every message and store; comma-separated or a JSON list",
    )
    log_level: str = Field(default="INFO", description="log level of the process")
    log_json: bool = Field(
        default=False,
        description="one JSON object per log line (compose and the k8s overlays set it); text"
        " otherwise. Both carry RFC 3339 UTC timestamps with milliseconds and the context"
        " fields (docs/operations.md, Logs)",
    )
    http_host: str = Field(
        default="0.0.0.0",
        description="the address the process's ports listen on (its public port, if any, and"
        " its internal one)",
    )
    gc_thresholds: Annotated[tuple[int, int, int], NoDecode] = Field(
        default=GC_THRESHOLDS,
        description="Python's garbage-collector thresholds (`gc.set_threshold`): allocations"
        " before a young collection, then young collections per middle one and middle ones per"
        " full one; comma-separated or a JSON list. Higher ones cost fewer collections under"
        " load (the default stores about 1.5x the bulk per core of Python's 700,10,10:"
        " bench/RESULTS.md) and a little more memory between them",
    )

    @field_validator("secret_configuration_keys", "gc_thresholds", mode="before")
    @classmethod
    def _json_or_commas(cls, value: object) -> object:
        return json_or_commas(value)

    @field_validator("gc_thresholds")
    @classmethod
    def _collects(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        # 0 would switch a generation's collections off: cyclic garbage would never be freed.
        young, middle, full = value
        if young < 100 or middle < 1 or full < 1:
            raise ValueError(
                "the young threshold must be at least 100 and the other two at least 1"
            )
        return value


# The queues a service process may consume (csms_shared.bus.runtime).
Lane = Literal["calls", "decisions", "events", "rpc"]


class ConsumerSettings(BaseModel):
    """Which of its queues a process of the service consumes (every process declares them all)."""

    consume: Annotated[list[Lane], NoDecode] = Field(
        default_factory=list,
        description="the service's queues this process consumes, among `calls` (bulk),"
        " `decisions`, `events` and `rpc`; comma-separated or a JSON list; empty: all. Run"
        " decisions in processes of their own (`decisions`) beside the rest"
        " (`calls,events,rpc`) so a burst of bulk data never takes the CPU a session start"
        ' needs (docs/SCALING.md, "Decisions apart")',
    )

    group_shards: int = Field(
        default=1,
        ge=1,
        le=16,
        description="how many shards by station a bulk action's groups are split into, each"
        " with its own lanes (their groups never wait for each other's locks): a backlog is"
        " stored faster, but the process's event loop is busier, and the transactions' ends it"
        " handles wait longer; for a bulk process whose decisions run apart"
        ' (docs/SCALING.md, "Decisions apart")',
    )

    @field_validator("consume", mode="before")
    @classmethod
    def _consume_json_or_commas(cls, value: object) -> object:  # not CommonSettings' name
        return json_or_commas(value)

"""A multi-host database URL: the settings keep it, the engine hands asyncpg every host.

Behind a fail-over the services name every node and let the client pick the writable one:
`postgresql+asyncpg://user@/db?host=a:5432&host=b:5432&target_session_attrs=read-write`.
"""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings
from sqlalchemy.exc import ArgumentError

from csms_shared.db import create_engine, read_json
from csms_shared.settings import DatabaseSettings, settings_config

MULTI = (
    "postgresql+asyncpg://csms:secret@/csms"
    "?host=pg-a.internal:5432&host=pg-b.internal:5433&target_session_attrs=read-write"
)


class Settings(BaseSettings, DatabaseSettings):
    """A service's database settings."""

    model_config = settings_config("TEST_")


def test_the_suite_wide_variable_keeps_a_multi_host_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("CSMS_DATABASE_URL", MULTI)
    assert Settings().database_url == MULTI


async def test_the_engine_gives_asyncpg_every_host_and_the_session_attribute() -> None:
    engine = create_engine(MULTI, application_name="test")
    try:
        args, kwargs = engine.dialect.create_connect_args(engine.url)
    finally:
        await engine.dispose()
    assert args == []
    assert kwargs["host"] == ["pg-a.internal", "pg-b.internal"]
    assert kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write"
    assert (kwargs["user"], kwargs["password"], kwargs["database"]) == ("csms", "secret", "csms")


def test_a_host_without_its_port_is_refused_when_the_engine_is_made() -> None:
    # At the service's start, not at its first query.
    with pytest.raises(ArgumentError, match="All ports are required"):
        create_engine("postgresql+asyncpg://csms@/csms?host=pg-a:5432&host=pg-b")


def test_json_columns_are_read_with_orjson_and_the_stdlib_for_what_it_refuses() -> None:
    assert read_json('{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}
    assert read_json(b"[true]") == [True]
    huge = 2**70  # a station's integer beyond 64 bits, written by the stdlib
    assert read_json(f'{{"n": {huge}}}') == {"n": huge}

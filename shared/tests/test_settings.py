"""Settings: a process's own prefixed variable first, then the suite-wide `CSMS_*` one."""

from __future__ import annotations

import gc

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from csms_shared.bus.access import ROLES
from csms_shared.heap import GC_THRESHOLDS, set_collector_thresholds
from csms_shared.settings import (
    DEFAULT_BROKER_URL,
    BrokerSettings,
    CommonSettings,
    DatabaseSettings,
    settings_config,
)


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """A service composed as the four are."""

    model_config = settings_config("TEST_")

    heartbeat_interval: int = 300


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKER_URL", "BROKER_USERS", "DATABASE_URL", "LOG_LEVEL"):
        for prefix in ("TEST_", "CSMS_"):
            monkeypatch.delenv(f"{prefix}{name}", raising=False)
    monkeypatch.delenv("CSMS_SECRET_CONFIGURATION_KEYS", raising=False)
    monkeypatch.delenv("TEST_SECRET_CONFIGURATION_KEYS", raising=False)
    monkeypatch.delenv("CSMS_GC_THRESHOLDS", raising=False)
    monkeypatch.delenv("TEST_GC_THRESHOLDS", raising=False)


@pytest.mark.parametrize(
    ("field", "name", "own", "suite"),
    [
        ("broker_url", "BROKER_URL", "amqp://own@a/", "amqp://suite@b/"),
        ("database_url", "DATABASE_URL", "postgresql://own", "postgresql://suite"),
        ("log_level", "LOG_LEVEL", "DEBUG", "WARNING"),
    ],
)
def test_own_variable_wins_over_the_suite_wide_one(
    monkeypatch: pytest.MonkeyPatch, field: str, name: str, own: str, suite: str
) -> None:
    monkeypatch.setenv(f"CSMS_{name}", suite)
    assert getattr(Settings(), field) == suite
    monkeypatch.setenv(f"TEST_{name}", own)
    assert getattr(Settings(), field) == own
    monkeypatch.delenv(f"CSMS_{name}")
    assert getattr(Settings(), field) == own


def test_defaults_without_any_variable() -> None:
    settings = Settings()
    assert settings.broker_url == DEFAULT_BROKER_URL
    assert settings.log_level == "INFO"
    assert settings.secret_configuration_keys == []
    assert settings.broker_users == dict.fromkeys(ROLES, "guest")


def test_only_shared_fields_have_a_suite_wide_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_HEARTBEAT_INTERVAL", "7")
    assert Settings().heartbeat_interval == 300
    monkeypatch.setenv("TEST_HEARTBEAT_INTERVAL", "7")
    assert Settings().heartbeat_interval == 7


def test_arguments_by_field_name_still_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BROKER_URL", "amqp://own@a/")
    assert Settings(broker_url="amqp://arg@c/").broker_url == "amqp://arg@c/"


def test_secret_keys_read_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_SECRET_CONFIGURATION_KEYS", " SecretA, SecretB ,")
    assert Settings().secret_configuration_keys == ["SecretA", "SecretB"]
    monkeypatch.setenv("TEST_SECRET_CONFIGURATION_KEYS", '["Own"]')
    assert Settings().secret_configuration_keys == ["Own"]


def test_broker_users_default_to_the_suite_wide_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_BROKER_URL", "amqp://dev:pw@127.0.0.1/")
    assert Settings().broker_users == dict.fromkeys(ROLES, "dev")
    monkeypatch.setenv("CSMS_BROKER_USERS", '{"gateway": "csms-gateway"}')
    assert Settings().broker_users == {"gateway": "csms-gateway"}
    monkeypatch.setenv("TEST_BROKER_USERS", '{"gateway": "own-gateway"}')
    assert Settings().broker_users == {"gateway": "own-gateway"}
    monkeypatch.setenv("TEST_BROKER_USERS", '{"gatewy": "csms-gateway"}')
    with pytest.raises(ValueError, match="unknown broker roles"):
        Settings()


def test_gc_thresholds_read_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gc_thresholds == GC_THRESHOLDS
    monkeypatch.setenv("CSMS_GC_THRESHOLDS", "5000, 10, 50")
    assert Settings().gc_thresholds == (5000, 10, 50)
    monkeypatch.setenv("TEST_GC_THRESHOLDS", "[700, 10, 10]")
    assert Settings().gc_thresholds == (700, 10, 10)


@pytest.mark.parametrize("value", ["0,10,10", "700,0,10", "700,10,0", "700,10", "a,b,c"])
def test_gc_thresholds_that_would_stop_collecting_are_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TEST_GC_THRESHOLDS", value)
    with pytest.raises(ValidationError, match=r"(?i)gc_thresholds"):
        Settings()


def test_the_collector_runs_at_the_thresholds_set() -> None:
    before = gc.get_threshold()
    try:
        set_collector_thresholds((12_345, 6, 7))
        assert gc.get_threshold() == (12_345, 6, 7)
    finally:
        gc.set_threshold(*before)

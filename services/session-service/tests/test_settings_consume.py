"""Which of its queues a session-service process consumes (SESSION_CONSUME)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from session_service.settings import Settings


def test_a_process_consumes_the_lanes_it_is_told_and_every_one_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().consume == []
    monkeypatch.setenv("SESSION_CONSUME", "decisions")
    monkeypatch.setenv("SESSION_SECRET_CONFIGURATION_KEYS", "MeterPassword")
    settings = Settings()
    assert settings.consume == ["decisions"]
    assert settings.secret_configuration_keys == ["MeterPassword"]  # its own validator kept
    monkeypatch.setenv("SESSION_CONSUME", "calls,events,rpc")
    assert Settings().consume == ["calls", "events", "rpc"]
    monkeypatch.setenv("SESSION_CONSUME", '["rpc"]')
    assert Settings().consume == ["rpc"]
    monkeypatch.setenv("SESSION_CONSUME", "everything")
    with pytest.raises(ValidationError):
        Settings()


def test_group_shards_are_one_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().group_shards == 1
    monkeypatch.setenv("SESSION_GROUP_SHARDS", "4")
    assert Settings().group_shards == 4
    for wrong in ("0", "17", "two", ""):
        monkeypatch.setenv("SESSION_GROUP_SHARDS", wrong)
        with pytest.raises(ValidationError, match="SESSION_GROUP_SHARDS"):
            Settings()

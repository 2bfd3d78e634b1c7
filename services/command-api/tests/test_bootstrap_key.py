"""The bootstrap admin key: long, not a placeholder, refused with a sentence at start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from command_api.auth import bootstrap_key_problem


@pytest.mark.parametrize(
    "key",
    ["CHANGE-ME", "changeme", "change_me_please_0123456789abcdef", "short-key-1234", "a" * 40],
)
def test_weak_or_placeholder_keys_are_refused(key: str) -> None:
    assert bootstrap_key_problem(key)


def test_a_generated_key_is_fine() -> None:
    assert bootstrap_key_problem("9f2c4e1d7b3a8c5e6f0d1a2b3c4d5e6f") is None


def test_command_api_refuses_to_start_with_a_placeholder_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("API_")}
    env["CSMS_ADMIN_API_KEY"] = "CHANGE-ME"
    done = subprocess.run(
        [sys.executable, "-m", "command_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CSMS_ADMIN_API_KEY" in done.stderr and "placeholder" in done.stderr
    assert "Traceback" not in done.stderr


def test_api_admin_api_key_wins_over_the_suite_wide_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from command_api.settings import Settings

    own, suite = "9f2c4e1d7b3a8c5e6f0d1a2b3c4d5e6f", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    monkeypatch.delenv("API_ADMIN_API_KEY", raising=False)
    monkeypatch.setenv("CSMS_ADMIN_API_KEY", "")
    assert Settings().admin_api_key is None
    monkeypatch.setenv("CSMS_ADMIN_API_KEY", suite)
    key = Settings().admin_api_key
    assert key is not None and key.get_secret_value() == suite
    monkeypatch.setenv("API_ADMIN_API_KEY", own)
    key = Settings().admin_api_key
    assert key is not None and key.get_secret_value() == own

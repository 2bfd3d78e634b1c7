"""docs/configuration.md is generated from the settings classes (`make config-reference`), as
docs/events.asyncapi.yaml is from the event models: it must be current, and every setting must
say what it means."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

from csms_shared.settings import settings_config

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == _script().render(), (
        "docs/configuration.md is stale: run `make config-reference`"
    )


def test_every_environment_variable_of_every_process_is_in_it() -> None:
    script = _script()
    text = (ROOT / "docs" / "configuration.md").read_text()
    for _, package in script.PROCESSES:
        settings = script.settings_of(package)
        for name, field in settings.model_fields.items():
            own = script.variables(field, name)[0]
            shared = own.replace(script.prefix_of(settings), "<PREFIX>_", 1)
            assert f"`{own}`" in text or f"`{shared}`" in text, own


def test_a_setting_without_a_description_is_refused_by_name() -> None:
    class Settings(BaseSettings):
        model_config = settings_config("DEMO_")

        said: int = Field(default=1, description="a setting that says what it means")
        silent: int = 2

    script = _script()
    with pytest.raises(ValueError, match=r"demo\.settings\.Settings\.silent$"):
        script.require_descriptions(script.own_fields("demo", Settings))

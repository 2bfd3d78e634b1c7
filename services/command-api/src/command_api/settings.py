"""command-api settings, from `API_*` environment variables."""

from __future__ import annotations

import os

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config

from .auth import bootstrap_key_problem


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The command-api process."""

    model_config = settings_config("API_")

    http_port: int = 8080
    # /healthz, /readyz and /metrics: on their own port, so the API's ingress never serves them.
    internal_port: int = 8083
    # The bootstrap admin key; `API_ADMIN_API_KEY` or the suite-wide `CSMS_ADMIN_API_KEY`.
    admin_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("API_ADMIN_API_KEY", "CSMS_ADMIN_API_KEY")
    )
    command_timeout: float = Field(default=30.0, gt=0, description="default seconds per command")
    command_timeout_max: float = Field(default=300.0, gt=0)
    rpc_timeout: float = Field(default=5.0, gt=0)
    instance_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")

    @field_validator("admin_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and k8s templates may pass an empty variable: that sets no key.
        return None if value == "" else value

    @field_validator("admin_api_key")
    @classmethod
    def _strong_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        problem = value is not None and bootstrap_key_problem(value.get_secret_value())
        if problem:
            raise ValueError(f"CSMS_ADMIN_API_KEY (or API_ADMIN_API_KEY) is refused: {problem}")
        return value

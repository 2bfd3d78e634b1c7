"""Session-service settings, from `SESSION_*` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The session-service process."""

    model_config = SettingsConfigDict(env_prefix="SESSION_")

    http_port: int = 8082

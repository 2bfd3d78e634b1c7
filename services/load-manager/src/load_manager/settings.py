"""Load-manager settings, from `LOADS_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config


class Settings(BaseSettings, BrokerSettings, DatabaseSettings, CommonSettings):
    """The load-manager process: the owner of schema `loads` (sites, their nodes and the
    stations on them)."""

    model_config = settings_config("LOADS_")

    # /healthz, /readyz and /metrics.
    internal_port: int = 8087
    # Levels of a site's tree, the site included (site -> panel -> sub-panel -> ...): the
    # allocator walks every path on every change, so a tree stays shallow.
    max_tree_depth: int = Field(default=6, ge=1, le=32)
    # Nodes of one site at most, the site included.
    max_site_nodes: int = Field(default=500, ge=1, le=100_000)
    # Charging profiles stored per station at most (a station holds a few; each is re-sent at
    # every boot).
    max_station_profiles: int = Field(default=64, ge=1, le=10_000)
    # How often the relay looks for command requests to publish (ocpp.command-requests).
    command_poll_interval: float = Field(default=0.2, gt=0, le=60)
    # The timeout each command request gives command-api (seconds): the station's answer, or
    # command-api's `timeout`, comes within it.
    command_timeout: float = Field(default=30.0, gt=0, le=300)
    # How long past `command_timeout` a command may stay unanswered before the sweep gives up
    # on it (`failed`, "no answer") and sends the station's next: command.completed was lost.
    command_answer_margin: float = Field(default=60.0, ge=0, le=3600)
    # Seconds between two sweeps for unanswered commands.
    sweep_interval: float = Field(default=15.0, gt=0, le=3600)

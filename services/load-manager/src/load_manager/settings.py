"""Load-manager settings, from `LOADS_*` environment variables."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import BaseSettings

from csms_shared.contracts.rpc_loads import MAX_AMPS, MAX_EVSES
from csms_shared.settings import BrokerSettings, CommonSettings, DatabaseSettings, settings_config

# OCPP's profile ids are 32-bit integers; the allocator's run up to its id + MAX_EVSES.
MAX_PROFILE_ID = 2_147_483_647


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
    # Charging profiles stored per station at most (a station holds a few; each may be sent
    # again whenever the station comes back without it).
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
    # Seconds between two sweeps that stop following the events of stations that left their
    # site and hold no TxProfile (following.py); until then their events cost a delivery each.
    followed_sweep_interval: float = Field(default=60.0, gt=0, le=86_400)

    # -- the allocator (allocator/) ---------------------------------------------------------
    # What an EVSE of a station assigned without `maxCurrent` / `minCurrent` may draw at most,
    # and below which its session is paused (A per phase).
    default_max_current: Decimal = Field(default=Decimal(32), gt=0, le=MAX_AMPS, decimal_places=1)
    default_min_current: Decimal = Field(default=Decimal(6), ge=0, le=MAX_AMPS, decimal_places=1)
    # Smaller changes are not sent (A per phase; 0.2 A at least), unless safety needs them.
    allocation_threshold: Decimal = Field(default=Decimal(1), ge=0, le=100, decimal_places=1)
    # An offline station counts at its last allocation this long (seconds), then at its maximum.
    allocation_offline_grace: float = Field(default=300.0, ge=0, le=86_400)
    # After a rejection or a timeout, an EVSE is left alone this long (seconds).
    allocation_retry_after: float = Field(default=60.0, gt=0, le=86_400)
    # A session drawing more than `allocation_headroom` A under its allowance this long
    # (seconds) is capped at its draw plus the headroom; the rest goes to the others.
    allocation_underuse_after: float = Field(default=300.0, gt=0, le=86_400)
    allocation_headroom: Decimal = Field(default=Decimal(2), gt=0, le=100, decimal_places=1)
    # A Current.Import reading below 0, or above this many times its EVSE's maximum, is not a
    # current the EVSE can draw (a meter's error, a station that lies): it is ignored for the
    # allocation, counted (csms_loads_implausible_readings_total) and raised as a security event.
    allocation_reading_factor: Decimal = Field(default=Decimal(2), ge=1, le=10, decimal_places=1)
    # Seconds between two timer rounds of every site (underuse, offline grace, lost answers).
    allocation_interval: float = Field(default=10.0, gt=0, le=3600)
    # The TxDefaultProfile the allocator installs on each EVSE: its id (this + the EVSE: ids
    # are per station in both versions) and its stack level, above the operator's own
    # TxDefaultProfiles so that the site's limit wins. Both are the allocator's alone: an
    # operator's profile of one of its ids is refused on any station, and on a station of a
    # site so is a TxDefaultProfile at its stack level or above, and a TxProfile
    # (managed_profiles.py).
    allocation_profile_id: int = Field(default=1_900_000_000, ge=1, le=MAX_PROFILE_ID - MAX_EVSES)
    allocation_stack_level: int = Field(default=8, ge=0, le=100)
    # How long a site's per-minute samples (its chart) are kept.
    sample_retention_hours: float = Field(default=48.0, gt=0, le=24 * 366)

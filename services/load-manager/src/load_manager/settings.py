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

    internal_port: int = Field(
        default=8087,
        description="the load-manager's `/healthz`, `/readyz`, `/metrics` (internal only)",
    )
    # The allocator walks every path on every change, so a tree stays shallow.
    max_tree_depth: int = Field(
        default=6,
        ge=1,
        le=32,
        description="levels a site's tree may have, the site counted (site -> panel ->"
        " sub-panel -> ...)",
    )
    max_site_nodes: int = Field(
        default=500, ge=1, le=100_000, description="nodes one site may have, the site counted"
    )
    max_station_profiles: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="charging profiles stored per charge point at most (a station holds a few;"
        " each may be sent again whenever the station comes back without it)",
    )
    command_poll_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="seconds between the command relay's looks for requests it was not woken"
        " for: one the broker returned unroutable (no intake queue yet) or another replica"
        " left behind (a commit that queues one wakes its relay at once)",
    )
    command_timeout: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="the timeout each command request gives command-api, seconds: the"
        " station's answer, or command-api's `timeout`, comes within it",
    )
    command_answer_margin: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="seconds past `LOADS_COMMAND_TIMEOUT` a command may stay unanswered before"
        " a sweep gives up on it (`failed`, reason `no answer`: its command.completed was lost)"
        " and sends the station's next",
    )
    sweep_interval: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="seconds between two sweeps for unanswered commands",
    )
    # following.py
    followed_sweep_interval: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="seconds between two sweeps that stop following the events of stations"
        " that left their site and hold no TxProfile; until then their events cost a delivery"
        " each",
    )

    # -- the allocator (allocator/) ---------------------------------------------------------
    default_max_current: Decimal = Field(
        default=Decimal(32),
        gt=0,
        le=MAX_AMPS,
        decimal_places=1,
        description="A per phase one EVSE of a station placed without `maxCurrent` may draw at"
        " most",
    )
    default_min_current: Decimal = Field(
        default=Decimal(6),
        ge=0,
        le=MAX_AMPS,
        decimal_places=1,
        description="A per phase below which the session of an EVSE of a station placed"
        " without `minCurrent` is paused rather than starved",
    )
    allocation_threshold: Decimal = Field(
        default=Decimal(1),
        ge=0,
        le=100,
        decimal_places=1,
        description="changes smaller than this many A per phase (0.2 A at least) are not sent,"
        " unless safety needs them",
    )
    allocation_offline_grace: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="seconds an offline station counts at its last limit, then at its maximum",
    )
    allocation_retry_after: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="seconds an EVSE whose station rejected a limit, or did not answer, is left"
        " alone before it is asked again",
    )
    allocation_underuse_after: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="a session drawing more than `LOADS_ALLOCATION_HEADROOM` under its limit"
        " this many seconds is capped at its draw plus the headroom; the rest goes to the"
        " others",
    )
    allocation_headroom: Decimal = Field(
        default=Decimal(2),
        gt=0,
        le=100,
        decimal_places=1,
        description="A per phase an underusing session keeps above its draw (see"
        " `LOADS_ALLOCATION_UNDERUSE_AFTER`)",
    )
    allocation_reading_factor: Decimal = Field(
        default=Decimal(2),
        ge=1,
        le=10,
        decimal_places=1,
        description="a Current.Import reading below 0, or above this many times its EVSE's"
        " `maxCurrent`, is not a current the EVSE can draw (a meter's error, a station that"
        " lies): it is ignored for the allocation, counted"
        " (`csms_loads_implausible_readings_total`) and raised as a security event",
    )
    allocation_interval: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="seconds between two timer rounds of every site (underuse, offline grace,"
        " lost answers)",
    )
    # managed_profiles.py
    allocation_profile_id: int = Field(
        default=1_900_000_000,
        ge=1,
        le=MAX_PROFILE_ID - MAX_EVSES,
        description="the allocator's TxDefaultProfile on an EVSE has this id + the EVSE (ids"
        " are per station in both versions); an operator's profile of one of its ids is"
        " refused on any station",
    )
    allocation_stack_level: int = Field(
        default=8,
        ge=0,
        le=100,
        description="stack level of the allocator's TxDefaultProfiles, above the operator's own"
        " so that the site's limit wins; on a station of a site an operator's TxDefaultProfile"
        " at it or above, and any TxProfile, are refused",
    )
    sample_retention_hours: float = Field(
        default=48.0,
        gt=0,
        le=24 * 366,
        description="hours a site's per-minute samples (its chart) are kept",
    )

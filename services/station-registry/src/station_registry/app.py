"""main(): settings -> database -> broker -> consume; a presence sweeper beside it."""

from __future__ import annotations

import logging
from pathlib import Path

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.db import upgrade
from csms_shared.service import serve

from . import (  # noqa: F401 - importing them registers their routes
    action_boot,
    action_reports,
    action_reports_v201,
    action_status,
    follow_charging,
    follow_commands,
    follow_presence,
    follow_security,
    rpc_charge_points,
    rpc_keys,
    rpc_metadata,
    rpc_security,
    rpc_variables,
)
from .db import outbox
from .retention import keep_security_events, keep_station_messages, keep_status_history
from .router import router
from .settings import Settings, UnknownChargePointPolicy
from .sweeper import sweep_presence

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `registry` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def warn_if_insecure(runtime: ServiceRuntime) -> None:
    """Say loudly, once at start, when charge points may connect without proving who they are."""
    settings: Settings = runtime.settings
    if settings.min_security_profile == 0:
        log.warning(
            "INSECURE: REGISTRY_MIN_SECURITY_PROFILE=0 - a charge point registered at profile 0 "
            "connects without credentials, and anyone can connect as it and take its "
            "connection over. For development only; deployments set 1 or more."
        )
    if settings.unknown_charge_points is not UnknownChargePointPolicy.REJECT:
        log.warning(
            "REGISTRY_UNKNOWN_CHARGE_POINTS=%s - handshakes of unregistered ids are admitted%s.",
            settings.unknown_charge_points.value,
            " and anyone can create a charge point"
            if settings.unknown_charge_points is UnknownChargePointPolicy.ACCEPT
            else " as Pending",
        )


async def main(settings: Settings | None = None) -> None:
    """Run the registry until SIGTERM or SIGINT."""
    await serve(
        router,
        settings or Settings(),
        outbox=outbox,
        background=[
            warn_if_insecure,
            sweep_presence,
            keep_status_history,
            keep_security_events,
            keep_station_messages,
        ],
    )

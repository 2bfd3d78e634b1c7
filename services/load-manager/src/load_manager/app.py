"""main(): settings -> database -> broker -> the RPC methods on sites, nodes and stations, and
the stored charging profiles (RPC methods, their followers, the command requests' relay, the
sweep of commands left without an answer)."""

from __future__ import annotations

from pathlib import Path

from csms_shared.db import upgrade
from csms_shared.service import serve

from . import (  # noqa: F401 - importing them registers their handlers
    action_reports,
    follow_allocation,
    follow_profiles,
    rpc_allocation,
    rpc_profiles,
    rpc_sites,
    rpc_stations,
)
from .allocator.gauges import sites_sampler
from .allocator.timer import allocation_timer
from .commands import relay_commands
from .db import outbox
from .following import sweep_followed
from .router import router
from .settings import Settings
from .sweeper import sweep

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `loads` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def main(settings: Settings | None = None) -> None:
    """Run the load-manager until SIGTERM or SIGINT."""
    await serve(
        router,
        settings or Settings(),
        outbox=outbox,
        background=[relay_commands, sweep, allocation_timer, sweep_followed],
        samplers=[sites_sampler],
    )

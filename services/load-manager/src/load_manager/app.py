"""main(): settings -> database -> broker -> the RPC methods on sites, nodes and stations, and
the stored charging profiles (RPC methods, their followers, the command requests' relay, the
sweep of commands left without an answer)."""

from __future__ import annotations

from pathlib import Path

from csms_shared.db import upgrade
from csms_shared.service import serve

# Importing the entry modules registers their handlers.
from .allocation import follow_allocation, rpc_allocation  # noqa: F401
from .allocation.gauges import sites_sampler
from .allocation.timer import allocation_timer
from .commands import relay_commands
from .db import outbox
from .followed import sweep_followed
from .profiles import action_reports, follow_profiles, rpc_profiles  # noqa: F401
from .profiles.sweeper import sweep
from .router import router
from .settings import Settings
from .sites import rpc_sites, rpc_stations  # noqa: F401

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

"""main(): settings -> database -> broker -> consume; the sweep and partition upkeep beside it."""

from __future__ import annotations

from pathlib import Path

from csms_shared.db import upgrade
from csms_shared.service import serve

# Importing the entrypoint modules registers their routes on the one router.
from . import (  # noqa: F401
    action_authorize_meter_values,
    action_reservations,
    action_start,
    action_stop,
    action_transaction_event,
    follow_charge_points,
    follow_commands_connectors,
    follow_roaming_tokens,
    rpc_ends,
    rpc_id_tags,
    rpc_local_list,
    rpc_reports,
    rpc_tariffs,
    rpc_transactions,
)
from .db import outbox
from .gauges import transactions_sampler
from .meter_partitions import keep_meter_partitions
from .router import router
from .settings import Settings
from .sweeper import sweep

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `sessions` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def main(settings: Settings | None = None) -> None:
    """Run the session-service until SIGTERM or SIGINT."""
    await serve(
        router,
        settings or Settings(),
        outbox=outbox,
        background=[sweep, keep_meter_partitions],
        samplers=[transactions_sampler],
        # Asks the roaming service's `tokens.authorize` (roaming_tokens.py).
        rpc_client=True,
    )

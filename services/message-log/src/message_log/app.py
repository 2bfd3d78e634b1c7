"""main(): settings -> database -> broker -> the writer and the RPC reads."""

from __future__ import annotations

from pathlib import Path

from csms_shared.db import upgrade
from csms_shared.service import serve

from . import follow_warnings, rpc_messages  # noqa: F401 - importing them registers their handlers
from .db import outbox
from .router import router
from .settings import Settings
from .writer import run_writer

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `messages` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def main(settings: Settings | None = None) -> None:
    """Run the message log until SIGTERM or SIGINT."""
    await serve(router, settings or Settings(), outbox=outbox, background=[run_writer])

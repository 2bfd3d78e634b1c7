"""Autogenerate the next Alembic revision of a service against a scratch database.

.venv/bin/python scripts/new_migration.py session-service "add transactions"
"""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from alembic import command
from alembic.script import ScriptDirectory

from csms_shared.db import alembic_config
from csms_shared.settings import DEFAULT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]


async def _admin(sql: str, url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> int:
    service, message = sys.argv[1], sys.argv[2]
    package = service.replace("-", "_")
    migrations = ROOT / "services" / service / "src" / package / "migrations"
    importlib.import_module(f"{package}.db")
    base = os.environ.get("CSMS_DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"scratch_{secrets.token_hex(4)}"
    url = urlunsplit(urlsplit(base)._replace(path="/" + name))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"', base))
    try:
        config = alembic_config(migrations, url)
        command.upgrade(config, "head")
        head = ScriptDirectory.from_config(config).get_current_head()
        rev_id = f"{int(head or '0') + 1:04d}"
        command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', base))
    return 0


if __name__ == "__main__":
    sys.exit(main())

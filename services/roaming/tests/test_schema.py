"""The migrations make exactly the tables db.py describes (autogenerate finds nothing to do)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from csms_shared.db import create_engine
from roaming.db import SCHEMA, metadata
from roaming.settings import Settings


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, parents: type_ != "schema" or name == SCHEMA,
            "version_table_schema": SCHEMA,
        },
    )
    return [d for d in compare_metadata(context, metadata) if "alembic_version" not in str(d)]


async def test_the_migrated_schema_is_the_one_db_py_describes(settings: Settings) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    await engine.dispose()

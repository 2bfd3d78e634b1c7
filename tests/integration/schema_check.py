"""Whether a service's migrations make exactly the tables its db.py describes: what Alembic's
autogenerate would still do (nothing, when they agree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from csms_shared.db import create_engine


async def schema_differences(
    database_url: str,
    metadata: MetaData,
    schema: str,
    *,
    ignored: Callable[[str], bool] = lambda name: False,
) -> list[Any]:
    """Autogenerate's differences between the migrated `schema` and `metadata` (the objects
    `ignored` names left out: tables a service makes at run time)."""

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, parents: (
                    name == schema if type_ == "schema" else not ignored(name or "")
                ),
                "version_table_schema": schema,
            },
        )
        found = compare_metadata(context, metadata)
        return [d for d in found if "alembic_version" not in str(d)]

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences)
    finally:
        await engine.dispose()

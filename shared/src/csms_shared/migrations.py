"""The body of every service's Alembic env.py: own schema, version table inside it."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection, metadata: MetaData, schema: str) -> None:
    partitions: set[str] = set()

    def only_own_schema(name: str | None, type_: str, parent_names: object) -> bool:
        # Autogenerate compares this service's schema only, never its neighbours', and never
        # the partitions of a partitioned table: the service creates and drops those as time
        # passes (csms_shared.partitions); the model describes their parent.
        if type_ == "schema":
            return name == schema
        return not (type_ == "table" and name in partitions)

    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=only_own_schema,
    )
    with context.begin_transaction():
        # Two replicas starting at once must not migrate concurrently.
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
        # CREATE SCHEMA needs CREATE on the database even when the schema exists: ask first, so
        # a role that owns its schema but may not create schemas can still migrate.
        exists = connection.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        partitions.update(
            connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :s AND c.relispartition AND c.relkind IN ('r', 'p')"
                ),
                {"s": schema},
            ).scalars()
        )
        context.run_migrations()


async def _run_online(metadata: MetaData, schema: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run, metadata, schema)
        await conn.commit()
    await engine.dispose()


def run_env(metadata: MetaData, schema: str) -> None:
    """Run the migrations of `schema` (online only: the suite always has its database)."""
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(metadata, schema))

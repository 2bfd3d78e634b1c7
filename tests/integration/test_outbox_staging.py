"""Outbox events are staged on the session and written just before its transaction commits:
all of a transaction's events in one multi-row INSERT, none of a rolled-back one."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from csms_shared.bus.outbox import emit, emit_many, outbox_table
from csms_shared.contracts.event_base import Event
from csms_shared.db import create_engine, session_factory
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration


class Counted(Event):
    """An event with a number, published under the name it is given."""

    n: int


def counted(name: str, n: int) -> Counted:
    return type(name, (Counted,), {"routing_key": name})(event=name, n=n)


@pytest.fixture
async def outbox(
    infra: Infra,
) -> AsyncIterator[tuple[Any, async_sessionmaker[AsyncSession], list[str]]]:
    """An outbox table in a schema of its own, sessions, and the statements they ran."""
    schema = f"staging_{secrets.token_hex(3)}"
    table = outbox_table(MetaData(schema=schema))
    engine: AsyncEngine = create_engine(infra.database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(table.metadata.create_all)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield table, session_factory(engine), statements
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await engine.dispose()


async def rows(infra: Infra, table: Any) -> list[tuple[str, Any]]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    try:
        found = await conn.fetch(
            f'SELECT routing_key, body FROM "{table.schema}".outbox ORDER BY id'
        )
    finally:
        await conn.close()
    return [(r["routing_key"], orjson.loads(r["body"])["n"]) for r in found]


async def test_a_transactions_events_are_written_in_one_insert_when_it_commits(
    infra: Infra, outbox: Any
) -> None:
    table, sessions, statements = outbox
    async with sessions() as session, session.begin():
        await emit(session, table, counted("transaction.started", 1))
        await emit_many(session, table, [counted("meter.values", 2), counted("meter.values", 3)])
        await emit(session, table, counted("transaction.stopped", 4))
        assert await rows(infra, table) == []  # staged, not written yet
    assert await rows(infra, table) == [
        ("transaction.started", 1),
        ("meter.values", 2),
        ("meter.values", 3),
        ("transaction.stopped", 4),
    ]
    assert sum("INSERT INTO" in s and "outbox" in s for s in statements) == 1


async def test_a_rolled_back_transactions_events_never_leave(infra: Infra, outbox: Any) -> None:
    table, sessions, _ = outbox
    async with sessions() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                await emit(session, table, counted("transaction.started", 1))
                raise RuntimeError("the handler failed")
        # The same session's next transaction carries only its own events.
        async with session.begin():
            await emit(session, table, counted("transaction.stopped", 2))
    assert await rows(infra, table) == [("transaction.stopped", 2)]


async def test_events_cannot_be_emitted_inside_a_savepoint(outbox: Any) -> None:
    table, sessions, _ = outbox
    async with sessions() as session, session.begin():
        async with session.begin_nested():
            with pytest.raises(RuntimeError, match="SAVEPOINT"):
                await emit(session, table, counted("transaction.started", 1))

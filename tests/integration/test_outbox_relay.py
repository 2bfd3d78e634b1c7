"""The outbox relay against the real broker and database: over several rounds every event is
published once and in id order and the outbox is empty afterwards; a stop leaves the rest."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from sqlalchemy import MetaData, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from csms_shared.bus.outbox import BATCH, OutboxRelay, outbox_table, stage_rows
from csms_shared.db import create_engine, session_factory
from tests.integration.infra import Infra
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

EVENTS = 2 * BATCH + 137  # three rounds, the last one partial


@pytest.fixture
async def outbox(infra: Infra) -> AsyncIterator[tuple[Any, async_sessionmaker[AsyncSession]]]:
    """An outbox table in a schema of its own, holding EVENTS committed events."""
    schema = f"relay_{secrets.token_hex(3)}"
    table = outbox_table(MetaData(schema=schema))
    engine: AsyncEngine = create_engine(infra.database_url, pool_size=3)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(table.metadata.create_all)
        await conn.execute(
            insert(table),
            [{"routing_key": "relay.test", "body": orjson.dumps({"n": n})} for n in range(EVENTS)],
        )
    yield table, session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def channel(infra: Infra) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(infra.broker_url)
    yield await connection.channel(publisher_confirms=True)
    await connection.close()


@pytest.fixture
async def exchange(channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractExchange:
    """A topic exchange of this test's own, standing in for ocpp.events."""
    return await channel.declare_exchange(
        f"relay.{secrets.token_hex(3)}", aio_pika.ExchangeType.TOPIC, auto_delete=True
    )


async def left(sessions: async_sessionmaker[AsyncSession], table: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_every_event_is_published_once_in_id_order(
    outbox: Any, channel: aio_pika.abc.AbstractChannel, exchange: aio_pika.abc.AbstractExchange
) -> None:
    table, sessions = outbox
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "relay.#")
    relay = OutboxRelay(sessions, table, channel, exchange.name)

    while await relay.drain_once():
        pass

    assert await left(sessions, table) == 0
    received: list[tuple[int, str]] = []
    async with queue.iterator() as messages:
        async for message in messages:
            await message.ack()
            received.append((orjson.loads(message.body)["n"], message.message_id or ""))
            if len(received) == EVENTS:
                break
    assert [n for n, _ in received] == list(range(EVENTS))
    # message_id is the schema and row id: consumers can drop a re-published event.
    assert len({message_id for _, message_id in received}) == EVENTS
    assert all(message_id.startswith(f"{table.schema}-") for _, message_id in received)


async def test_a_stopped_relay_leaves_what_it_did_not_delete(
    outbox: Any,
    channel: aio_pika.abc.AbstractChannel,
    exchange: aio_pika.abc.AbstractExchange,
    infra: Infra,
) -> None:
    table, sessions = outbox
    relay = OutboxRelay(sessions, table, channel, exchange.name)
    name = f'"{table.schema}".outbox'
    holder = await asyncpg.connect(infra.asyncpg_dsn)
    try:
        # A lock the round's DELETE waits for and its SELECT ... FOR UPDATE does not: the round
        # publishes its batch, then stops before deleting it.
        held = holder.transaction()
        await held.start()
        await holder.execute(f"LOCK TABLE {name} IN SHARE MODE")
        task = asyncio.create_task(relay.drain_once())

        async def deleting() -> bool:
            return bool(
                await holder.fetchval(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE relation = to_regclass($1) AND NOT granted",
                    name,
                )
            )

        await eventually(deleting)
        task.cancel()
        await held.rollback()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await holder.close()
    # The cancelled round rolled back: the batch it published is still there for the next one.
    assert await left(sessions, table) == EVENTS
    while await relay.drain_once():
        pass
    assert await left(sessions, table) == 0


async def test_a_commit_wakes_its_tables_relay_and_a_rollback_sends_nothing(
    outbox: Any, channel: aio_pika.abc.AbstractChannel, exchange: aio_pika.abc.AbstractExchange
) -> None:
    """Rows staged in a transaction (`stage_rows`, as the load-manager's command requests are)
    are written as it commits and published by the relay that commit wakes: a relay that would
    otherwise look only every minute delivers them within `eventually`'s wait."""
    table, sessions = outbox
    relay = OutboxRelay(sessions, table, channel, exchange.name, poll_interval=60)
    while await relay.drain_once():  # the fixture's rows out of the way
        pass
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "woken.#")
    task = asyncio.create_task(relay.run())
    try:

        async def arrived() -> list[int]:
            found = []
            while (message := await queue.get(fail=False)) is not None:
                await message.ack()
                found.append(orjson.loads(message.body)["n"])
            return found

        await asyncio.sleep(0)  # a turn of the loop: the relay task starts (and registers)
        async with sessions() as session:
            async with session.begin():
                stage_rows(session, table, [("woken.no", orjson.dumps({"n": -1}))])
                await session.rollback()
        async with sessions() as session, session.begin():
            stage_rows(session, table, [("woken.yes", orjson.dumps({"n": n})) for n in (1, 2)])
        assert await eventually(arrived) == [1, 2]
        assert await left(sessions, table) == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

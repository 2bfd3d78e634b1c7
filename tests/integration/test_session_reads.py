"""The session-service's folded reads: known connectors cached in process, the id tag and the
reservations in force read in one statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from session_service import reservations
from session_service.app import migrate
from session_service.id_tags import load_for_stop, load_id_tag_and_reservations
from session_service.roaming_tokens import NOT_ASKING
from session_service.settings import Settings
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
CONNECTOR = "INSERT INTO sessions.connectors (charge_point_id, connector_id) VALUES ($1, $2)"


@pytest.fixture(scope="module")
async def sessions(infra: Infra) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(migrate, Settings(database_url=infra.database_url))
    engine = create_engine(infra.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


async def test_known_connectors_are_read_again_unless_the_cache_holds_the_one_asked(
    sessions: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    cp = "reads-connectors"

    async def known(connector: int) -> set[int]:
        async with sessions() as session, session.begin():
            return await reservations.known_connectors(session, cp, connector)

    assert await known(1) == set()
    # Reported through another replica: this one's cache did not follow the event.
    await db.execute(
        "INSERT INTO sessions.connectors (charge_point_id, connector_id) VALUES ($1, 1)", cp
    )
    assert await known(1) == {1}
    await db.execute(
        "INSERT INTO sessions.connectors (charge_point_id, connector_id) VALUES ($1, 2)", cp
    )
    assert await known(1) == {1}  # the cached answer holds connector 1
    assert await known(2) == {1, 2}  # connector 2 is not cached: read again
    reservations.connector_remembered(cp, 3)  # followed here, after its commit
    assert await known(3) == {1, 2, 3}


async def test_id_tag_and_reservations_in_force(
    sessions: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    cp = "reads-reservations"
    await db.execute(
        "INSERT INTO sessions.id_tags (id_tag, status) VALUES ('READS-TAG', 'Accepted')"
    )
    for rid, connector, tag, expiry, status in [
        (1, 0, "OTHER", NOW + timedelta(hours=1), "Active"),
        (2, 2, "READS-TAG", NOW + timedelta(hours=1), "Active"),
        (3, 1, "OTHER", NOW - timedelta(hours=1), "Active"),  # expired
        (4, 1, "OTHER", NOW + timedelta(hours=1), "Cancelled"),
    ]:
        await db.execute(
            "INSERT INTO sessions.reservations (charge_point_id, reservation_id, connector_id,"
            " id_tag, expiry_date, status, command_id, reserved_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, 'c', $7)",
            cp,
            rid,
            connector,
            tag,
            expiry,
            status,
            NOW,
        )
    expected = [
        reservations.Held(2, 2, "READS-TAG", None),
        reservations.Held(1, 0, "OTHER", None),
    ]
    async with sessions() as session, session.begin():
        tag, held = await load_id_tag_and_reservations(
            session, "reads-tag", cp, NOW, asker=NOT_ASKING, lock=True
        )
        assert tag is not None and tag.id_tag == "READS-TAG"
        assert held == expected
        assert reservations.held_for_others(held, "READS-TAG", None) == (1, True)
        # A tag not on the list: the reservations are read all the same.
        tag, held = await load_id_tag_and_reservations(
            session, "NOT-LISTED", cp, NOW, asker=NOT_ASKING
        )
        assert tag is None and held == expected
        tag, held = await load_id_tag_and_reservations(
            session, "READS-TAG", "nobody", NOW, asker=NOT_ASKING
        )
        assert tag is not None and held == []


async def test_stop_reads_the_transaction_and_the_tag_in_one_statement(
    sessions: async_sessionmaker[AsyncSession], db: asyncpg.Connection
) -> None:
    await db.execute("INSERT INTO sessions.id_tags (id_tag) VALUES ('STOP-TAG')")
    tx_id = await db.fetchval(
        "INSERT INTO sessions.transactions (charge_point_id, connector_id, id_tag, id_tag_status,"
        " meter_start, start_time, price_per_kwh, session_fee, currency, last_seen_at,"
        " ocpp_version)"
        " VALUES ('reads-stop', 1, 'STOP-TAG', 'Accepted', 10, $1, 0.3, 0, 'EUR', $1, '1.6')"
        " RETURNING id",
        NOW,
    )
    async with sessions() as session, session.begin():
        row, tag = await load_for_stop(session, tx_id, "stop-tag")
        assert row is not None and (row.id, row.meter_start, row.warnings) == (tx_id, 10, [])
        assert tag is not None and tag.id_tag == "STOP-TAG"
        row, tag = await load_for_stop(session, tx_id, "NOT-LISTED")
        assert row is not None and row.id == tx_id and tag is None
        row, tag = await load_for_stop(session, 2_000_000_000, "STOP-TAG")
        assert row is None and tag is not None

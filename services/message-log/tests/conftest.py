"""Reads against the real Postgres: a database of this run's own, schema `messages` migrated,
the partitions of the days around today created, records stored as the writer stores them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from message_log.app import migrate
from message_log.settings import Settings
from message_log.writer import Writer
from tests.integration.infra import base_urls, isolated_database


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[Settings]:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            settings = Settings(database_url=url)
            await asyncio.to_thread(migrate, settings)
            yield settings


@pytest.fixture(scope="session")
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
async def writer(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Writer:
    stored = Writer(sessions, settings)
    await stored.maintain()
    return stored

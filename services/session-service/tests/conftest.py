"""The session-service against the real Postgres, for the tests that need it: a database of
this run's own, schema `sessions` migrated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from session_service.app import migrate
from session_service.settings import Settings
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

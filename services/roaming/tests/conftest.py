"""The roaming service's OCPI interface against the real Postgres (a database of this run's
own, schema `roaming` migrated), with eMSP platforms played in-process: every HTTP call between
them goes through one transport that routes by host to either application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from roaming.app import migrate
from roaming.ocpi_api.app import create_app
from roaming.ocpi_client import OcpiClient
from roaming.settings import Settings
from tests.integration.infra import base_urls, isolated_database
from tests.integration.ocpi_platform import Hosts, PlatformDouble

OURS = "http://csms.test/ocpi"


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[Settings]:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            settings = Settings(database_url=url, public_url=OURS)
            await asyncio.to_thread(migrate, settings)
            yield settings


@pytest.fixture(scope="session")
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def hosts(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Hosts]:
    """The CSMS's OCPI app at csms.test, platforms added by the test at their own hosts."""
    routed = Hosts()
    client = OcpiClient(5.0, None, transport=routed)
    routed.add("csms.test", create_app(settings, sessions, client))
    yield routed
    await client.close()


@pytest.fixture
async def csms(hosts: Hosts) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client to our OCPI interface (the test sets Authorization itself)."""
    async with httpx.AsyncClient(transport=hosts, base_url="http://csms.test") as client:
        yield client


@pytest.fixture
def platform(hosts: Hosts) -> PlatformDouble:
    """An eMSP platform at its own host, calling us through the same transport."""
    return PlatformDouble.at(hosts)

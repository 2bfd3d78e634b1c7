"""The load-manager's RPC methods against the real Postgres: a database of this run's own,
schema `loads` migrated, each call in a transaction of its own as the runtime runs it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.resources import Node, Site
from csms_shared.contracts.rpc_loads import CreateNode, NodeSettings
from csms_shared.db import create_engine, session_factory
from load_manager.app import migrate
from load_manager.settings import Settings
from load_manager.sites.rpc_sites import create_node, create_site
from tests.integration.infra import base_urls, isolated_database

P = TypeVar("P")
R = TypeVar("R")


@pytest.fixture(scope="session")
async def settings() -> AsyncIterator[Settings]:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            settings = Settings(database_url=url, max_tree_depth=4, max_site_nodes=6)
            await asyncio.to_thread(migrate, settings)
            yield settings


@pytest.fixture(scope="session")
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


class Rpc:
    """Runs a handler as the runtime does: one transaction, committed unless it raises."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    async def __call__(
        self, handler: Callable[[P, Context[Settings]], Awaitable[R]], params: P
    ) -> R:
        async with self._sessions() as session, session.begin():
            return await handler(params, Context(session, self._settings))


@pytest.fixture
def rpc(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Rpc:
    return Rpc(sessions, settings)


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


def with_limit(fields: dict[str, object], amps: list[int]) -> dict[str, object]:
    """`fields`, with a limit of `amps` per phase unless they give one."""
    return fields if {"limit_amps", "limit_watts"} & set(fields) else {"limit_amps": amps, **fields}


async def new_site(rpc: Rpc, **fields: object) -> Site:
    settings = {"name": unique("Depot"), **with_limit(fields, [100, 100, 100])}
    return await rpc(create_site, NodeSettings.model_validate(settings))


async def new_node(rpc: Rpc, site: int, parent: int, name: str = "Panel", **fields: object) -> Node:
    settings = with_limit(fields, [63, 63, 63])
    creating = CreateNode.model_validate(
        {"site_id": site, "parent_id": parent, "name": name, **settings}
    )
    return await rpc(create_node, creating)

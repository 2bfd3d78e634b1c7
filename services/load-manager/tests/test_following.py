"""Which stations' events the load-manager binds its queue to (following.py): a station put on a
node, or given a TxProfile, is recorded and bound before the change commits; the sweep unbinds
a station that left its site and holds no TxProfile, and never one a change needs again, even
one that change makes needed while the sweep holds it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.rpc_loads import AssignStation, OfStation
from csms_shared.contracts.rpc_profiles import StoreProfile
from csms_shared.db import create_engine
from csms_shared.ocpp.version import OcppVersion
from load_manager.db import followed_stations
from load_manager.followed import follow, follow_recorded, sweep_once
from load_manager.profiles.follow_profiles import transaction_stopped
from load_manager.profiles.rpc_profiles import store_profile
from load_manager.settings import Settings
from load_manager.sites.rpc_stations import assign_station, unassign_station
from tests.integration.support import eventually

from .conftest import new_site
from .test_profile_commands import stopped
from .test_profiles import profile


@dataclass
class Bindings:
    """Records what the load-manager binds and unbinds; `held` keeps an unbind waiting."""

    calls: list[tuple[str, list[str]]] = field(default_factory=list)
    held: asyncio.Event | None = None
    unbinding: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self, cp_ids: Iterable[str]) -> None:
        self.calls.append(("follow", list(cp_ids)))

    async def unfollow(self, cp_ids: Iterable[str]) -> None:
        self.calls.append(("unfollow", list(cp_ids)))
        self.unbinding.set()
        if self.held is not None:
            await self.held.wait()

    async def narrow(self) -> None:
        self.calls.append(("narrow", []))

    def of(self, cp_id: str) -> list[str]:
        return [what for what, cps in self.calls if cp_id in cps]


@dataclass
class Runtime:
    """What the sweep reads of the service runtime: its sessions and its bindings."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    stations: Bindings
    connection: Any = None  # no broker: the start binds one station after the other


class BoundRpc:
    """Runs a handler as the runtime does, its context holding the bindings."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, handler: Any, params: Any) -> Any:
        async with self.runtime.sessions() as session, session.begin():
            ctx = Context(session, self.runtime.settings, stations=self.runtime.stations)
            return await handler(params, ctx)  # type: ignore[arg-type]


@pytest.fixture
def runtime(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Runtime:
    return Runtime(sessions, settings, Bindings())


@pytest.fixture
def rpc(runtime: Runtime) -> BoundRpc:
    return BoundRpc(runtime)


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


async def recorded(sessions: async_sessionmaker[AsyncSession], cp_id: str) -> bool:
    async with sessions() as session:
        c = followed_stations.c
        return bool(
            await session.scalar(select(c.charge_point_id).where(c.charge_point_id == cp_id))
        )


async def waiting_on_a_lock(settings: Settings) -> None:
    """Return once a transaction of this database waits for a lock another holds (read on a
    connection of its own: the sweep and the placement hold the fixture's two)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    engine = create_engine(settings.database_url, pool_size=1)

    async def waiting() -> bool:
        async with engine.connect() as connection:
            return bool(await connection.scalar(query))

    try:
        await eventually(waiting)
    finally:
        await engine.dispose()


async def sweep_all(runtime: Runtime) -> list[str]:
    """Sweep until nothing is left to unbind (other tests' stations too): every one unbound."""
    unbound: list[str] = []
    while swept := await sweep_once(runtime):  # type: ignore[arg-type]
        unbound += swept
    return unbound


async def placed(rpc: BoundRpc, cp_id: str) -> None:
    site = await new_site(rpc)  # type: ignore[arg-type]
    await rpc(assign_station, AssignStation(charge_point_id=cp_id, node_id=site.id))


async def test_a_station_put_on_a_site_is_bound_and_unbound_by_the_sweep_once_it_leaves(
    rpc: BoundRpc, runtime: Runtime, cp_id: str
) -> None:
    await placed(rpc, cp_id)
    assert runtime.stations.of(cp_id) == ["follow"]
    assert await recorded(runtime.sessions, cp_id)
    assert cp_id not in await sweep_all(runtime)  # on its site: kept

    await rpc(unassign_station, OfStation(charge_point_id=cp_id))
    assert cp_id in await sweep_all(runtime)
    assert runtime.stations.of(cp_id) == ["follow", "unfollow"]
    assert not await recorded(runtime.sessions, cp_id)


async def test_a_stations_tx_profile_keeps_it_followed_until_its_transaction_ends(
    rpc: BoundRpc, runtime: Runtime, cp_id: str
) -> None:
    default = StoreProfile(charge_point_id=cp_id, ocpp_version=OcppVersion.V201, profile=profile())
    await rpc(store_profile, default)
    assert runtime.stations.of(cp_id) == []  # a TxDefaultProfile needs no transaction's end

    tx = profile(id=2, purpose="TxProfile", transactionId="tx-a", stackLevel=1)
    await rpc(
        store_profile,
        StoreProfile(charge_point_id=cp_id, ocpp_version=OcppVersion.V201, profile=tx),
    )
    assert runtime.stations.of(cp_id) == ["follow"]
    assert cp_id not in await sweep_all(runtime)

    await rpc(transaction_stopped, stopped(cp_id, "tx-a"))
    assert cp_id in await sweep_all(runtime)


async def test_a_station_placed_again_while_the_sweep_holds_it_stays_bound(
    rpc: BoundRpc, runtime: Runtime, cp_id: str
) -> None:
    await placed(rpc, cp_id)
    await rpc(unassign_station, OfStation(charge_point_id=cp_id))
    runtime.stations.held = asyncio.Event()
    sweeping = asyncio.create_task(sweep_all(runtime))
    await runtime.stations.unbinding.wait()  # the sweep holds the station's row, unbinding
    placing = asyncio.create_task(placed(rpc, cp_id))
    await waiting_on_a_lock(runtime.settings)  # the placement waits for the sweep's row
    assert not placing.done()
    runtime.stations.held.set()
    assert cp_id in await sweeping
    await placing
    # Unbound by the sweep, then bound again by the placement, which recorded it anew.
    assert runtime.stations.of(cp_id)[-2:] == ["unfollow", "follow"]
    assert await recorded(runtime.sessions, cp_id)
    assert cp_id not in await sweep_all(runtime)


async def test_at_start_every_recorded_station_is_bound_before_the_plain_bindings_go(
    rpc: BoundRpc, runtime: Runtime, cp_id: str
) -> None:
    await placed(rpc, cp_id)
    started = Runtime(runtime.sessions, runtime.settings, Bindings())
    assert await follow_recorded(started) >= 1  # type: ignore[arg-type]
    (what, bound), narrowed = started.stations.calls
    assert what == "follow" and cp_id in bound
    assert narrowed == ("narrow", [])


async def test_follow_without_bindings_records_the_station_only(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, cp_id: str
) -> None:
    async with sessions() as session, session.begin():
        await follow(Context(session, settings), [cp_id, cp_id])
    assert await recorded(sessions, cp_id)

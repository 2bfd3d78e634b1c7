"""A gateway's stops and restarts under one id, as the registry records them, against the real
schema: a restarted gateway's CPs stay online, a stopped one's or a gone one's go offline, and
late events of an earlier process change nothing of a later one. And, with the whole suite: a
gateway late with its beats (its loop stalled, or its beats behind a backlog) that still holds
its broker connection keeps its CPs online."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest

from csms_shared.bus.router import Context
from csms_shared.bus.topology import EVENTS
from csms_shared.contracts.events import (
    Event,
    GatewayHeartbeat,
    GatewayStopped,
    StationConnected,
    StationDisconnected,
    StationSeen,
)
from station_registry.db import outbox
from station_registry.follow_presence import (
    gateway_heartbeat,
    gateway_stopped,
    station_connected,
    station_disconnected,
    stations_connected,
    stations_disconnected,
)
from station_registry.settings import Settings as RegistrySettings
from station_registry.sweeper import sweep_once
from tests.integration.conftest import RegistrySchema, Suite
from tests.integration.infra import Infra
from tests.integration.support import ChargePointClient, ServiceProcess, eventually

pytestmark = pytest.mark.integration

# A factor no live gateway of the running suite is silent for: the sweep here takes offline
# only what the tests' own stopped gateways held.
PATIENT = 10_000.0


# The model each handler's events are read as (contracts/events.py), as the runtime reads them.
MODELS: dict[Any, type[Event]] = {
    gateway_heartbeat: GatewayHeartbeat,
    gateway_stopped: GatewayStopped,
    station_connected: StationConnected,
    stations_connected: StationConnected,
    station_disconnected: StationDisconnected,
    stations_disconnected: StationDisconnected,
}


async def handle(registry_schema: RegistrySchema, handler: Any, event: Any) -> None:
    sessions, settings = registry_schema
    model = MODELS[handler]
    read = (
        [model.model_validate(e) for e in event]
        if isinstance(event, list)
        else model.model_validate(event)
    )
    async with sessions() as session, session.begin():
        await handler(read, Context(session=session, settings=settings, outbox=outbox))


async def beat(registry_schema: RegistrySchema, gateway: str, started: datetime | None) -> None:
    event: dict[str, Any] = {"gateway": gateway, "connections": 1, "interval": 5.0}
    if started is not None:
        event["startedAt"] = started.isoformat()
    await handle(registry_schema, gateway_heartbeat, event)


async def stopped(
    registry_schema: RegistrySchema, gateway: str, started: datetime | None, at: datetime
) -> None:
    event: dict[str, Any] = {"gateway": gateway, "at": at.isoformat()}
    if started is not None:
        event["startedAt"] = started.isoformat()
    await handle(registry_schema, gateway_stopped, event)


async def connected(registry_schema: RegistrySchema, cp: str, gateway: str, at: datetime) -> None:
    event = {
        "chargePointId": cp,
        "gateway": gateway,
        "connectionId": uuid.uuid4().hex,
        "connectedAt": at.isoformat(),
    }
    await handle(registry_schema, station_connected, event)


Sweep = Callable[..., Awaitable[list[str]]]


@pytest.fixture
async def sweep(registry_schema: RegistrySchema, infra: Infra) -> AsyncIterator[Sweep]:
    """One presence sweep as the registry runs it, asking the suite's broker: the gateways of
    these tests never had a queue there, so one whose beats are overdue is found gone."""
    sessions, _ = registry_schema
    connection = await aio_pika.connect_robust(infra.broker_url)

    async def run(factor: float = PATIENT) -> list[str]:
        return await sweep_once(sessions, connection, factor)

    yield run
    await connection.close()


async def online(db: asyncpg.Connection, cp: str) -> bool:
    return bool(await db.fetchval("SELECT online FROM registry.charge_points WHERE id = $1", cp))


async def gateway_row(db: asyncpg.Connection, gateway: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM registry.gateways WHERE id = $1", gateway)
    assert row is not None
    return row


async def swept_offline(db: asyncpg.Connection, cp: str) -> bool:
    """Offline by a sweep: this test's call, or the suite's registry sweeping the same database."""
    return bool(
        await db.fetchval(
            "SELECT offline_by_sweep AND NOT online FROM registry.charge_points WHERE id = $1", cp
        )
    )


def now() -> datetime:
    return datetime.now(UTC)


async def test_restarted_gateway_keeps_its_new_cps_online(
    registry_schema: RegistrySchema, db: asyncpg.Connection, sweep: Sweep
) -> None:
    gw, tag = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    first = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, first)
    await connected(registry_schema, f"old-{tag}", gw, first + timedelta(seconds=1))
    stop = first + timedelta(minutes=5)
    await stopped(registry_schema, gw, first, stop)
    assert not await online(db, f"old-{tag}")
    assert (await gateway_row(db, gw))["stopped_at"] == stop

    # The same id restarted: a CP connects before the registry hears the new process's beat.
    second = stop + timedelta(seconds=2)
    await connected(registry_schema, f"new-{tag}", gw, second + timedelta(seconds=1))
    assert f"new-{tag}" not in await sweep()
    assert await online(db, f"new-{tag}")
    # Its first beat forgets the stop.
    await beat(registry_schema, gw, second)
    row = await gateway_row(db, gw)
    assert row["stopped_at"] is None and row["started_at"] == second
    assert f"new-{tag}" not in await sweep()
    assert await online(db, f"new-{tag}")
    assert not await online(db, f"old-{tag}")


async def test_late_events_of_an_earlier_process_change_nothing(
    registry_schema: RegistrySchema, db: asyncpg.Connection, sweep: Sweep
) -> None:
    gw, tag = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    first = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, first)
    stop = first + timedelta(minutes=1)
    await stopped(registry_schema, gw, first, stop)
    # A beat of the stopped process handled after its stop keeps the stop.
    await beat(registry_schema, gw, first)
    assert (await gateway_row(db, gw))["stopped_at"] == stop

    second = stop + timedelta(seconds=5)
    await beat(registry_schema, gw, second)
    await connected(registry_schema, f"cp-{tag}", gw, second + timedelta(seconds=1))
    # A stop (or a beat) of the earlier process delivered late: the later process stays.
    await stopped(registry_schema, gw, first, stop + timedelta(seconds=1))
    await beat(registry_schema, gw, first)
    row = await gateway_row(db, gw)
    assert row["stopped_at"] is None and row["started_at"] == second
    assert await online(db, f"cp-{tag}")
    assert f"cp-{tag}" not in await sweep()
    # The later process stops: its CP goes offline.
    await stopped(registry_schema, gw, second, second + timedelta(minutes=1))
    assert not await online(db, f"cp-{tag}")


async def silence(db: asyncpg.Connection, gateway: str) -> None:
    """Its last beat an hour ago: silent for far more than 3 intervals of 5 s."""
    await db.execute(
        "UPDATE registry.gateways SET last_beat_at = now() - interval '1 hour' WHERE id = $1",
        gateway,
    )


async def test_silent_gateway_cps_swept_offline_and_back_when_it_beats_again(
    registry_schema: RegistrySchema, db: asyncpg.Connection, sweep: Sweep
) -> None:
    gw, tag = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    started = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, started)
    held, left = f"held-{tag}", f"left-{tag}"
    await connected(registry_schema, held, gw, started + timedelta(seconds=1))
    await connected(registry_schema, left, gw, started + timedelta(seconds=2))
    assert held not in await sweep()
    await silence(db, gw)
    await sweep(factor=3)
    # Swept by this call, or a moment before by the suite's registry, which sweeps the same
    # database every 0.5 s once another test has started it (CI hit that race once).
    assert await swept_offline(db, held) and await swept_offline(db, left)
    # One of them disconnected meanwhile (its event handled after the sweep).
    row = await db.fetchrow("SELECT connection_id FROM registry.charge_points WHERE id = $1", left)
    await handle(
        registry_schema,
        station_disconnected,
        {
            "chargePointId": left,
            "connectionId": row["connection_id"],
            "at": (started + timedelta(minutes=1)).isoformat(),
        },
    )
    # The gateway was only late: its next beat puts back online what it still holds.
    await beat(registry_schema, gw, started)
    assert await online(db, held)
    assert not await online(db, left)
    assert held not in await sweep(factor=3)


async def test_crashed_gateway_restarted_under_its_id_does_not_revive_old_cps(
    registry_schema: RegistrySchema, db: asyncpg.Connection, sweep: Sweep
) -> None:
    gw, cp = f"gw-{uuid.uuid4().hex[:8]}", f"cp-{uuid.uuid4().hex[:8]}"
    first = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, first)
    await connected(registry_schema, cp, gw, first + timedelta(seconds=1))
    await silence(db, gw)
    # Swept by this call or by the suite's registry a moment before (the race noted above).
    await sweep(factor=3)
    assert await swept_offline(db, cp)
    # A new process under the same id: the CPs of the one that crashed stay offline.
    await beat(registry_schema, gw, first + timedelta(minutes=5))
    assert not await online(db, cp)
    # ... and so do those a stopped gateway held, whatever beat comes late.
    gw2, cp2 = f"gw-{uuid.uuid4().hex[:8]}", f"cp-{uuid.uuid4().hex[:8]}"
    await beat(registry_schema, gw2, first)
    await connected(registry_schema, cp2, gw2, first + timedelta(seconds=1))
    await silence(db, gw2)
    await sweep(factor=3)
    assert await swept_offline(db, cp2)
    await stopped(registry_schema, gw2, first, first + timedelta(minutes=1))
    await beat(registry_schema, gw2, first)
    assert not await online(db, cp2)


async def test_a_gateway_restarted_under_its_id_takes_offline_what_the_crashed_one_held(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    """Killed and started again before a sweep found it silent (a container restarted in place):
    the new process's queue has the old one's name, so only its newer `startedAt` tells."""
    gw, tag = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    first = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, first)
    old, new = f"old-{tag}", f"new-{tag}"
    await connected(registry_schema, old, gw, first + timedelta(seconds=1))
    # No stop, no sweep: the new process's CP is announced before its first beat is handled.
    second = first + timedelta(minutes=1)
    await connected(registry_schema, new, gw, second + timedelta(seconds=1))
    await beat(registry_schema, gw, second)
    assert not await online(db, old)
    assert await online(db, new)
    row = await db.fetchrow(
        "SELECT offline_by_sweep, disconnected_at FROM registry.charge_points WHERE id = $1", old
    )
    assert (row["offline_by_sweep"], row["disconnected_at"]) == (False, second)
    # A late beat of the crashed process changes nothing.
    await beat(registry_schema, gw, first)
    assert not await online(db, old)
    assert await online(db, new)


async def test_stop_from_a_gateway_of_the_previous_version(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    """Events without `startedAt` (a gateway not yet upgraded) stop and beat as before."""
    gw, cp = f"gw-{uuid.uuid4().hex[:8]}", f"cp-{uuid.uuid4().hex[:8]}"
    await beat(registry_schema, gw, None)
    at = now()
    await connected(registry_schema, cp, gw, at - timedelta(seconds=30))
    await stopped(registry_schema, gw, None, at)
    assert not await online(db, cp)
    await beat(registry_schema, gw, None)
    assert (await gateway_row(db, gw))["stopped_at"] == at


async def test_presence_events_followed_in_groups_keep_the_newest_connection(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    run = uuid.uuid4().hex[:6]
    a, b, c = (f"GRP-{run}-{n}" for n in "abc")
    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def event(cp: str, gateway: str, connection: str, at: datetime) -> dict[str, Any]:
        return {
            "chargePointId": cp,
            "gateway": gateway,
            "connectionId": connection,
            "connectedAt": at.isoformat(),
            "at": at.isoformat(),
        }

    # `a` moved from gw-1 to gw-2, and the two events came in the wrong order in one group.
    await handle(
        registry_schema,
        stations_connected,
        [
            event(a, "gw-2", "a-new", t0 + timedelta(seconds=5)),
            event(b, "gw-1", "b-1", t0),
            event(a, "gw-1", "a-old", t0),
            event(c, "gw-1", "c-1", t0),
        ],
    )
    # The old connection of `a` and the one of `b` go; `c` stays.
    await handle(
        registry_schema,
        stations_disconnected,
        [event(a, "gw-1", "a-old", t0 + timedelta(seconds=6)), event(b, "gw-1", "b-1", t0)],
    )
    rows = {
        r["id"]: (r["online"], r["gateway"], r["connection_id"])
        for r in await db.fetch(
            "SELECT id, online, gateway, connection_id FROM registry.charge_points"
            " WHERE id = ANY($1::varchar[])",
            [a, b, c],
        )
    }
    assert rows == {
        a: (True, "gw-2", "a-new"),
        b: (False, "gw-1", "b-1"),
        c: (True, "gw-1", "c-1"),
    }


async def test_status_shows_a_drained_gateway_as_stopped(suite: Any, api: Any) -> None:
    process, _ = suite.extra_gateway("gateway-status")
    gateway_id = process.env["GATEWAY_INSTANCE_ID"]

    async def state() -> str | None:
        listed = (await api.get("/status")).json()["gateways"]
        return next((g["state"] for g in listed if g["id"] == gateway_id), None)

    assert await eventually(lambda: _is(state, "up"))
    process.stop()  # SIGTERM: the gateway drains and says gateway.stopped
    assert await eventually(lambda: _is(state, "stopped"))
    listed = (await api.get("/status")).json()["gateways"]
    [gone] = [g for g in listed if g["id"] == gateway_id]
    assert gone["connected"] == 0 and gone["stoppedAt"] >= gone["lastBeat"][:19]


async def _is(read: Any, expected: str) -> bool:
    return await read() == expected


BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


async def _fleet(port: int, ids: list[str], clients: list[ChargePointClient]) -> None:
    """Connect and boot `ids` on the gateway at `port`, into `clients` (the test closes them)."""
    for cp_id in ids:
        client = await ChargePointClient.connect(f"ws://127.0.0.1:{port}", cp_id)
        clients.append(client)
        await client.call("BootNotification", BOOT)


async def _cps(db: asyncpg.Connection, ids: list[str]) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, online, gateway, offline_by_sweep, disconnected_at"
        " FROM registry.charge_points WHERE id = ANY($1::varchar[]) ORDER BY id",
        ids,
    )


async def _all_online_on(db: asyncpg.Connection, ids: list[str], gateway: str) -> bool:
    rows = await _cps(db, ids)
    return len(rows) == len(ids) and all(r["online"] and r["gateway"] == gateway for r in rows)


async def _judged(db: asyncpg.Connection, gateway: str, ids: list[str]) -> bool:
    """A sweep has judged the gateway, late with its beats: found its connection alive on the
    broker (recorded with its row), or took its CPs offline."""
    row = await db.fetchrow("SELECT * FROM registry.gateways WHERE id = $1", gateway)
    found_alive = row is not None and dict(row).get("connection_seen_at") is not None
    return found_alive or not all(r["online"] for r in await _cps(db, ids))


async def _gateway_status(api: httpx.AsyncClient, gateway: str) -> dict[str, Any] | None:
    listed = (await api.get("/status")).json()["gateways"]
    return next((g for g in listed if g["id"] == gateway), None)


async def _assert_held_online(
    db: asyncpg.Connection, api: httpx.AsyncClient, gateway: str, ids: list[str]
) -> None:
    """Its CPs were never shown offline, and /status says the gateway is late, not silent."""
    rows = await _cps(db, ids)
    never_offline = [r["online"] and r["disconnected_at"] is None for r in rows]
    assert all(never_offline), f"a late gateway's CPs were shown offline: {rows}"
    status = await _gateway_status(api, gateway)
    assert status is not None
    assert (status["state"], status["connected"]) == ("late", len(ids))


async def _back_up(api: httpx.AsyncClient, gateway: str) -> None:
    """Its beats are handled again: /status says it is up."""

    async def up() -> bool:
        status = await _gateway_status(api, gateway)
        return status is not None and status["state"] == "up"

    await eventually(up)


async def test_a_stalled_gateway_that_holds_its_connections_keeps_its_cps_online(
    suite: Suite, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A gateway's loop stalls (here: the process stopped with SIGSTOP) and sends no beats for
    longer than the registry waits for them; the broker still holds its AMQP connection (its
    heartbeat timeout is far longer), so its CPs stay online."""
    process, port = suite.extra_gateway("gateway-stalled")
    gateway = process.env["GATEWAY_INSTANCE_ID"]
    run = uuid.uuid4().hex[:6]
    ids = [f"STALL-{run}-{n}" for n in range(3)]
    clients: list[ChargePointClient] = []
    try:
        await _fleet(port, ids, clients)
        await eventually(lambda: _all_online_on(db, ids, gateway))
        process.pause()
        try:
            # Beats every 0.5 s, overdue after 3, swept every 0.5 s: judged within seconds.
            await eventually(lambda: _judged(db, gateway, ids))
            await _assert_held_online(db, api, gateway, ids)
        finally:
            process.resume()
        await _back_up(api, gateway)
        assert await _all_online_on(db, ids, gateway)
    finally:
        await _stop(process, clients)


# Twice the registry's prefetch: the first of them waits on a row, the rest fill the prefetch,
# and everything published after them waits in the broker.
BACKLOG = 2 * RegistrySettings.model_fields["prefetch"].default


async def test_beats_behind_a_backlog_keep_the_gateways_cps_online(
    suite: Suite, api: httpx.AsyncClient, db: asyncpg.Connection, infra: Infra
) -> None:
    """The registry falls behind with its events (a backlog queued ahead of the beats waits on
    the database, here on a row locked by this test): every gateway's beats wait in the broker.
    The gateways still hold their connections: their CPs stay online."""
    process, port = suite.extra_gateway("gateway-behind")
    gateway = process.env["GATEWAY_INSTANCE_ID"]
    run = uuid.uuid4().hex[:6]
    ids = [f"BEHIND-{run}-{n}" for n in range(3)]
    clients: list[ChargePointClient] = []
    blocker = f"BLOCKER-{run}"
    try:
        await _fleet(port, ids, clients)
        await eventually(lambda: _all_online_on(db, ids, gateway))
        await db.execute("INSERT INTO registry.charge_points (id) VALUES ($1)", blocker)
        locked = db.transaction()
        await locked.start()
        try:
            await db.execute(
                "SELECT 1 FROM registry.charge_points WHERE id = $1 FOR UPDATE", blocker
            )
            await _publish_backlog(infra, blocker)
            await eventually(lambda: _judged(db, gateway, ids))
            await _assert_held_online(db, api, gateway, ids)
        finally:
            await locked.rollback()
        await _back_up(api, gateway)
        assert await _all_online_on(db, ids, gateway)
    finally:
        await db.execute("DELETE FROM registry.charge_points WHERE id = $1", blocker)
        await _stop(process, clients)


async def _publish_backlog(infra: Infra, blocker: str) -> None:
    """`BACKLOG` station.seen events for `blocker`, as a gateway publishes them."""
    seen = StationSeen(gateway="backlog", seen={blocker: now()})
    body = seen.encode()
    connection = await aio_pika.connect(infra.broker_url)
    async with connection:
        channel = await connection.channel()
        events = await channel.get_exchange(EVENTS.name, ensure=False)
        for _ in range(BACKLOG):
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await events.publish(message, routing_key=seen.key())


async def _stop(process: ServiceProcess, clients: list[ChargePointClient]) -> None:
    for client in clients:
        await client.close()
    process.stop()

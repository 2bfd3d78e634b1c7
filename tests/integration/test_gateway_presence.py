"""A gateway's stops and restarts under one id, as the registry records them, against the real
schema: a restarted gateway's CPs stay online, a stopped or silent one's go offline, and late
events of an earlier process change nothing of a later one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from csms_shared.bus.router import Context
from csms_shared.contracts.events import (
    Event,
    GatewayHeartbeat,
    GatewayStopped,
    StationConnected,
    StationDisconnected,
)
from station_registry.db import outbox
from station_registry.presence import (
    gateway_heartbeat,
    gateway_stopped,
    station_connected,
    station_disconnected,
    stations_connected,
    stations_disconnected,
)
from station_registry.queries import mark_offline_where_gateway_silent
from tests.integration.conftest import RegistrySchema
from tests.integration.support import eventually

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


async def sweep(registry_schema: RegistrySchema, factor: float = PATIENT) -> list[str]:
    sessions, _ = registry_schema
    async with sessions() as session, session.begin():
        return await mark_offline_where_gateway_silent(session, factor)


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
    registry_schema: RegistrySchema, db: asyncpg.Connection
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
    assert f"new-{tag}" not in await sweep(registry_schema)
    assert await online(db, f"new-{tag}")
    # Its first beat forgets the stop.
    await beat(registry_schema, gw, second)
    row = await gateway_row(db, gw)
    assert row["stopped_at"] is None and row["started_at"] == second
    assert f"new-{tag}" not in await sweep(registry_schema)
    assert await online(db, f"new-{tag}")
    assert not await online(db, f"old-{tag}")


async def test_late_events_of_an_earlier_process_change_nothing(
    registry_schema: RegistrySchema, db: asyncpg.Connection
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
    assert f"cp-{tag}" not in await sweep(registry_schema)
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
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    gw, tag = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    started = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, started)
    held, left = f"held-{tag}", f"left-{tag}"
    await connected(registry_schema, held, gw, started + timedelta(seconds=1))
    await connected(registry_schema, left, gw, started + timedelta(seconds=2))
    assert held not in await sweep(registry_schema)
    await silence(db, gw)
    await sweep(registry_schema, factor=3)
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
    assert held not in await sweep(registry_schema, factor=3)


async def test_crashed_gateway_restarted_under_its_id_does_not_revive_old_cps(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    gw, cp = f"gw-{uuid.uuid4().hex[:8]}", f"cp-{uuid.uuid4().hex[:8]}"
    first = now() - timedelta(minutes=10)
    await beat(registry_schema, gw, first)
    await connected(registry_schema, cp, gw, first + timedelta(seconds=1))
    await silence(db, gw)
    # Swept by this call or by the suite's registry a moment before (the race noted above).
    await sweep(registry_schema, factor=3)
    assert await swept_offline(db, cp)
    # A new process under the same id: the CPs of the one that crashed stay offline.
    await beat(registry_schema, gw, first + timedelta(minutes=5))
    assert not await online(db, cp)
    # ... and so do those a stopped gateway held, whatever beat comes late.
    gw2, cp2 = f"gw-{uuid.uuid4().hex[:8]}", f"cp-{uuid.uuid4().hex[:8]}"
    await beat(registry_schema, gw2, first)
    await connected(registry_schema, cp2, gw2, first + timedelta(seconds=1))
    await silence(db, gw2)
    await sweep(registry_schema, factor=3)
    assert await swept_offline(db, cp2)
    await stopped(registry_schema, gw2, first, first + timedelta(minutes=1))
    await beat(registry_schema, gw2, first)
    assert not await online(db, cp2)


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

"""The registry's batched StatusNotification and its one-statement station.connected, against
the real schema: a batch stores what the per-message handler stores, message by message."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from csms_shared.bus.router import CallContext, Context
from csms_shared.contracts.events import Event as Published
from csms_shared.contracts.events import StationConnected
from csms_shared.ocpp.v16.messages import StatusNotificationRequest
from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.version import OcppVersion
from station_registry.action_status import (
    status_notification,
    status_notification_batch,
    status_notification_v201,
    status_notification_v201_batch,
)
from station_registry.db import outbox
from station_registry.follow_presence import station_connected
from station_registry.router import router
from tests.integration.conftest import RegistrySchema
from tests.integration.groups import CountingUnitOfWork, call, in_one_group, one_by_one

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Event = tuple[str, dict[str, Any]]


class Recording(Context):
    """A batch's context that also keeps what it emits (the outbox relay may publish it)."""

    events: list[Event]

    async def emit_many(self, events: list[Published]) -> None:
        await Context.emit_many(self, events)
        self.events += [(event.key(), orjson.loads(event.encode())) for event in events]


class RecordingCall(CallContext):
    """A message's context that also keeps what it emits."""

    events: list[Event]

    async def emit(self, event: Published) -> None:
        await CallContext.emit(self, event)
        self.events.append((event.key(), orjson.loads(event.encode())))

    async def emit_many(self, events: list[Published]) -> None:
        await CallContext.emit_many(self, events)
        self.events += [(event.key(), orjson.loads(event.encode())) for event in events]


def status(
    connector: int,
    value: str = "Available",
    at: datetime | None = None,
    *,
    error: str = "NoError",
    info: str | None = None,
) -> StatusNotificationRequest:
    payload: dict[str, Any] = {"connectorId": connector, "status": value, "errorCode": error}
    if at is not None:
        payload["timestamp"] = at.isoformat()
    if info is not None:
        payload["info"] = info
    return StatusNotificationRequest.model_validate(payload)


# (CP suffix, request, received at)
Call = tuple[str, StatusNotificationRequest, datetime]


async def batch(
    registry_schema: RegistrySchema,
    handler: Any,
    version: OcppVersion,
    calls: list[tuple[str, Any, datetime]],
) -> list[Event]:
    """One batch of `handler` (a version's StatusNotification) over (CP, request, received at),
    as the runtime runs it; the events it emitted."""
    sessions, settings = registry_schema
    async with sessions() as session, session.begin():
        ctx = Recording(session=session, settings=settings, outbox=outbox)
        ctx.events = []
        pairs = [
            (
                request,
                CallContext(
                    session=session,
                    settings=settings,
                    outbox=outbox,
                    charge_point_id=cp,
                    received_at=received,
                    ocpp_version=version,
                ),
            )
            for cp, request, received in calls
        ]
        await handler(pairs, ctx)
    assert ctx.emitted == len(ctx.events)
    return ctx.events


async def run_batch(registry_schema: RegistrySchema, prefix: str, calls: list[Call]) -> list[Event]:
    """One 1.6 batch of the CPs named `prefix…`; the events it emitted."""
    named = [(prefix + cp, request, received) for cp, request, received in calls]
    return await batch(registry_schema, status_notification_batch, OcppVersion.V16, named)


async def run_one_by_one(
    registry_schema: RegistrySchema, prefix: str, calls: list[Call]
) -> list[Event]:
    """Every message alone through the per-message handler; the events emitted."""
    sessions, settings = registry_schema
    events: list[Event] = []
    for cp, request, received in calls:
        async with sessions() as session, session.begin():
            ctx = RecordingCall(
                session=session,
                settings=settings,
                outbox=outbox,
                charge_point_id=prefix + cp,
                received_at=received,
                ocpp_version=OcppVersion.V16,
            )
            ctx.events = []
            await status_notification(request, ctx)
        events += ctx.events
    return events


async def state(db: asyncpg.Connection, prefix: str) -> dict[str, Any]:
    """What the registry stores of the CPs named `prefix…`, with the prefix cut off."""
    like = prefix + "%"
    cut = len(prefix)
    cps = await db.fetch(
        "SELECT id, last_seen_at, online, registration_status FROM registry.charge_points"
        " WHERE id LIKE $1 ORDER BY id",
        like,
    )
    conns = await db.fetch(
        "SELECT charge_point_id, connector_id, status, error_code, info, vendor_id,"
        " vendor_error_code, status_at, availability FROM registry.connectors"
        " WHERE charge_point_id LIKE $1 ORDER BY charge_point_id, connector_id",
        like,
    )
    ours = await db.fetch(
        "SELECT charge_point_id, evse_id, connector_id, status, charging_state, error_code, info,"
        " status_at, charging_state_at FROM registry.evse_connectors"
        " WHERE charge_point_id LIKE $1 ORDER BY charge_point_id, evse_id, connector_id",
        like,
    )
    history = await db.fetch(
        "SELECT charge_point_id, connector_id, status, error_code, info, timestamp, received_at"
        " FROM registry.status_history WHERE charge_point_id LIKE $1"
        " ORDER BY charge_point_id, connector_id, timestamp, status, error_code",
        like,
    )

    def rows(records: list[asyncpg.Record], key: str) -> list[dict[str, Any]]:
        return [dict(r) | {key: r[key][cut:]} for r in records]

    return {
        "charge_points": rows(cps, "id"),
        "connectors": rows(conns, "charge_point_id"),
        "ours": rows(ours, "charge_point_id"),
        "history": rows(history, "charge_point_id"),
    }


def unprefixed(events: list[Event], prefix: str) -> list[Event]:
    return [
        (key, body | {"chargePointId": body["chargePointId"][len(prefix) :]})
        for key, body in events
    ]


async def test_a_batch_stores_what_one_message_at_a_time_stores(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    r = T0 + timedelta(hours=1)  # received times
    calls: list[Call] = [
        ("B", status(1, "Charging", T0 + timedelta(minutes=5)), r),
        ("A", status(0, "Available", T0), r),
        ("A", status(1, "Available", T0), r + timedelta(seconds=1)),
        ("A", status(2, "Faulted", T0, error="GroundFailure", info="x"), r),
        # Two of one connector in one batch: the newer wins, both are history.
        ("B", status(1, "Preparing", T0 + timedelta(minutes=1)), r + timedelta(seconds=2)),
        # A copy (same uq_status key) within the batch: history and event once.
        ("A", status(1, "Available", T0, info="copy"), r + timedelta(seconds=3)),
        # No timestamp: the receive time orders it.
        ("C", status(3, "Unavailable"), r),
        # Two as new as each other: the later one in the batch is the connector's status.
        ("C", status(4, "Available", T0), r),
        ("C", status(4, "Unavailable", T0), r),
        ("C", status(4, "Available", T0 - timedelta(minutes=1)), r),
    ]
    uid = uuid.uuid4().hex[:8]
    one, many = f"one-{uid}-", f"many-{uid}-"
    one_events = await run_one_by_one(registry_schema, one, calls)
    many_events = await run_batch(registry_schema, many, calls)

    assert unprefixed(many_events, many) == unprefixed(one_events, one)
    assert len(many_events) == 9  # every message but the copy
    stored = await state(db, many)
    assert stored == await state(db, one)

    assert [(c["id"], c["last_seen_at"]) for c in stored["charge_points"]] == [
        ("A", r + timedelta(seconds=3)),
        ("B", r + timedelta(seconds=2)),
        ("C", r),
    ]
    assert [
        (c["charge_point_id"], c["connector_id"], c["status"], c["status_at"], c["info"])
        for c in stored["connectors"]
    ] == [
        ("A", 0, "Available", T0, None),
        ("A", 1, "Available", T0, "copy"),  # as new as the first: its fields win
        ("A", 2, "Faulted", T0, "x"),
        ("B", 1, "Charging", T0 + timedelta(minutes=5), None),
        ("C", 3, "Unavailable", r, None),
        ("C", 4, "Unavailable", T0, None),
    ]
    # In our terms: each EVSE's connector 1, 1.6's car states Occupied with a charging state;
    # the station (connector 0) is no EVSE's.
    assert [
        (c["charge_point_id"], c["evse_id"], c["connector_id"], c["status"], c["charging_state"])
        for c in stored["ours"]
    ] == [
        ("A", 1, 1, "Available", None),
        ("A", 2, 1, "Faulted", None),
        ("B", 1, 1, "Occupied", "Charging"),
        ("C", 3, 1, "Unavailable", None),
        ("C", 4, 1, "Unavailable", None),
    ]
    assert stored["ours"][1]["error_code"] == "GroundFailure"
    assert len(stored["history"]) == 9
    copy = [h for h in stored["history"] if (h["charge_point_id"], h["connector_id"]) == ("A", 1)]
    assert [(h["info"], h["received_at"]) for h in copy] == [(None, r + timedelta(seconds=1))]


async def test_an_older_status_or_a_copy_in_a_later_batch(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    prefix = f"later-{uuid.uuid4().hex[:8]}-"
    r = T0 + timedelta(hours=1)
    newer = status(1, "Charging", T0 + timedelta(minutes=10))
    events = await run_batch(registry_schema, prefix, [("A", newer, r), ("B", status(1), r)])
    assert len(events) == 2
    # Later: the same notification again (a redelivery) and an older one delivered late.
    older = status(1, "Preparing", T0 + timedelta(minutes=9))
    later = r + timedelta(minutes=1)
    events = await run_batch(registry_schema, prefix, [("A", newer, later), ("A", older, later)])
    assert [(e["chargePointId"], e["status"]) for _, e in events] == [(prefix + "A", "Preparing")]
    assert events[0][1]["timestamp"] == "2026-03-01T12:09:00Z"
    stored = await state(db, prefix)
    a = stored["connectors"][0]
    assert (a["charge_point_id"], a["status"], a["status_at"]) == (
        "A",
        "Charging",
        T0 + timedelta(minutes=10),
    )
    assert [h["status"] for h in stored["history"] if h["charge_point_id"] == "A"] == [
        "Preparing",
        "Charging",
    ]
    ours = stored["ours"][0]
    assert (ours["status"], ours["charging_state"], ours["status_at"]) == (
        "Occupied",
        "Charging",
        T0 + timedelta(minutes=10),
    )
    assert stored["charge_points"][0]["last_seen_at"] == later
    # A batch whose last seen is older does not move it back.
    await run_batch(registry_schema, prefix, [("A", newer, r)])
    assert (await state(db, prefix))["charge_points"][0]["last_seen_at"] == later


async def connected(
    registry_schema: RegistrySchema, cp: str, gateway: str, conn: str, at: datetime
) -> None:
    sessions, settings = registry_schema
    event = {
        "chargePointId": cp,
        "gateway": gateway,
        "connectionId": conn,
        "connectedAt": at.isoformat(),
    }
    async with sessions() as session, session.begin():
        await station_connected(
            StationConnected.model_validate(event),
            Context(session=session, settings=settings, outbox=outbox),
        )


async def charge_point(db: asyncpg.Connection, cp: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM registry.charge_points WHERE id = $1", cp)
    assert row is not None
    return row


async def test_station_connected_creates_and_newest_connection_wins(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    cp = f"conn-{uuid.uuid4().hex[:8]}"
    await connected(registry_schema, cp, "gw-1", "c1", T0)
    row = await charge_point(db, cp)
    assert (row["online"], row["gateway"], row["connection_id"]) == (True, "gw-1", "c1")
    assert (row["connected_at"], row["last_seen_at"]) == (T0, T0)
    # The other columns as a row created by id alone has them.
    assert row["first_seen_at"] is not None
    assert row["security_profile"] == 0
    assert row["registration_status"] is None and row["disconnected_at"] is None
    assert row["vendor"] is None and row["last_boot_at"] is None

    # A newer connection takes over; last seen moves on with it.
    await connected(registry_schema, cp, "gw-2", "c2", T0 + timedelta(minutes=1))
    row = await charge_point(db, cp)
    assert (row["gateway"], row["connection_id"]) == ("gw-2", "c2")
    assert (row["connected_at"], row["last_seen_at"]) == (T0 + timedelta(minutes=1),) * 2

    # An older one delivered late changes nothing.
    await db.execute(
        "UPDATE registry.charge_points SET online = false, last_seen_at = $2 WHERE id = $1",
        cp,
        T0 + timedelta(minutes=5),
    )
    await connected(registry_schema, cp, "gw-1", "c0", T0 - timedelta(minutes=1))
    row = await charge_point(db, cp)
    assert (row["online"], row["gateway"], row["connection_id"]) == (False, "gw-2", "c2")
    assert row["connected_at"] == T0 + timedelta(minutes=1)

    # A newer one does not move last seen backwards.
    await connected(registry_schema, cp, "gw-3", "c3", T0 + timedelta(minutes=2))
    row = await charge_point(db, cp)
    assert (row["online"], row["gateway"], row["connection_id"]) == (True, "gw-3", "c3")
    assert row["last_seen_at"] == T0 + timedelta(minutes=5)
    assert row["first_seen_at"] is not None


async def test_station_connected_after_a_boot(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    """A row that exists without a connection (BootNotification first) is connected."""
    cp = f"conn-{uuid.uuid4().hex[:8]}"
    await db.execute(
        "INSERT INTO registry.charge_points (id, vendor, last_seen_at) VALUES ($1, 'V', $2)",
        cp,
        T0 + timedelta(minutes=1),
    )
    await connected(registry_schema, cp, "gw-1", "c1", T0)
    row = await charge_point(db, cp)
    assert (row["online"], row["gateway"], row["connected_at"]) == (True, "gw-1", T0)
    assert (row["vendor"], row["last_seen_at"]) == ("V", T0 + timedelta(minutes=1))


@contextlib.contextmanager
def counting(registry_schema: RegistrySchema) -> Iterator[list[str]]:
    """The statements the schema's engine sends while in the block (an executemany is one)."""
    sessions, _ = registry_schema
    engine = sessions.kw["bind"].sync_engine
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_statements_a_batch_and_a_connection_take(registry_schema: RegistrySchema) -> None:
    prefix = f"count-{uuid.uuid4().hex[:8]}-"
    r = T0 + timedelta(hours=1)
    calls: list[Call] = [
        (f"cp{n}", status(connector, "Available", T0), r)
        for n in range(10)
        for connector in (0, 1, 2)
    ]
    with counting(registry_schema) as sent:
        events = await run_batch(registry_schema, prefix, calls)
    assert len(events) == 30
    # Last seen, connectors (1.6's view and ours), history, outbox: whatever the batch's size.
    assert len(sent) == 5
    with counting(registry_schema) as sent:
        await run_one_by_one(registry_schema, f"one-{prefix}", calls[1:2])
    assert len(sent) == 5  # the same five for one message alone (of an EVSE: connector 1)
    with counting(registry_schema) as sent:
        await connected(registry_schema, prefix + "cp0", "gw-1", "c1", T0)
        await connected(registry_schema, prefix + "new", "gw-1", "c1", T0)
    assert len(sent) == 2


@pytest.mark.parametrize("run", [run_batch, run_one_by_one])
async def test_a_connector_first_seen_after_the_whole_cp_was_made_inoperative_is_inoperative(
    registry_schema: RegistrySchema, db: asyncpg.Connection, run: Any
) -> None:
    prefix = f"AV-{uuid.uuid4().hex[:6]}-"
    await run(registry_schema, prefix, [("cp", status(1), T0)])
    # An accepted ChangeAvailability of connector 0, applied before connector 2 ever reported.
    await db.execute(
        "INSERT INTO registry.connectors (charge_point_id, connector_id, availability)"
        " VALUES ($1, 0, 'Inoperative')",
        prefix + "cp",
    )
    await db.execute(
        "UPDATE registry.connectors SET availability = 'Inoperative' WHERE charge_point_id = $1",
        prefix + "cp",
    )
    await run(registry_schema, prefix, [("cp", status(2), T0), ("cp", status(1, "Charging"), T0)])
    await run(registry_schema, prefix, [("other", status(1), T0)])
    availability = {
        (r["charge_point_id"][len(prefix) :], r["connector_id"]): r["availability"]
        for r in await db.fetch(
            "SELECT charge_point_id, connector_id, availability FROM registry.connectors"
            " WHERE charge_point_id LIKE $1",
            prefix + "%",
        )
    }
    assert availability == {
        ("cp", 0): "Inoperative",
        ("cp", 1): "Inoperative",
        ("cp", 2): "Inoperative",
        ("other", 1): "Operative",
    }


# -- the batch handler equals the one-call handler, on any sequence of StatusNotifications ----

STATUSES = ["Available", "Preparing", "Charging", "Faulted", "Unavailable"]
a_status = st.tuples(
    st.sampled_from(["A", "B"]),  # the CP
    st.integers(0, 2),  # the connector (0: the whole CP)
    st.sampled_from(STATUSES),
    st.sampled_from(["NoError", "GroundFailure"]),
    st.one_of(st.none(), st.integers(0, 3)),  # the CP's timestamp, minutes after T0, or none
    st.integers(0, 2),  # received, seconds after T0 + 1 h
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(a_status, min_size=1, max_size=8))
async def test_a_batch_leaves_the_rows_and_answers_of_the_same_calls_one_by_one(
    registry_schema: RegistrySchema, db: asyncpg.Connection, statuses: list[Any]
) -> None:
    sessions, settings = registry_schema
    route = router.calls["v16.StatusNotification"]
    uid = uuid.uuid4().hex[:8]
    one, many = f"p1-{uid}-", f"pn-{uid}-"
    r = T0 + timedelta(hours=1)

    def minutes(n: int) -> timedelta:
        return timedelta(minutes=n)

    def calls(prefix: str) -> list[Any]:
        return [
            call(
                prefix + cp,
                status(
                    connector,
                    value,
                    None if at is None else T0 + timedelta(minutes=at),
                    error=error,
                ),
                r + timedelta(seconds=received),
            )
            for cp, connector, value, error, at, received in statuses
        ]

    alone = CountingUnitOfWork(sessions, settings, outbox)
    together = CountingUnitOfWork(sessions, settings, outbox)
    one_answers = await one_by_one(alone, route, calls(one))
    many_answers = await in_one_group(together, route, calls(many))
    assert many_answers == one_answers == [{"payload": {}}] * len(statuses)
    assert together.commits == 1 and alone.commits == len(statuses)
    assert together.emitted == alone.emitted
    assert await state(db, many) == await state(db, one)


async def test_each_connector_of_an_evse_keeps_its_history_and_its_event(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    """Two connectors of one 2.0.1 EVSE saying the same at the same time are two history rows
    and two `connector.status` (the history's key once had no connector within the EVSE, and
    the second connector's row and event were taken for a copy); a real copy is still one."""
    sessions, settings = registry_schema
    cp = f"evse-{uuid.uuid4().hex[:8]}"

    def occupied(connector: int) -> v201.StatusNotificationRequest:
        return v201.StatusNotificationRequest.model_validate(
            {
                "timestamp": T0.isoformat(),
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": connector,
            }
        )

    calls = [(cp, occupied(n), T0) for n in (1, 2, 1)]
    events = await batch(registry_schema, status_notification_v201_batch, OcppVersion.V201, calls)
    assert sorted((e["evseId"], e["evseConnectorId"], e["connectorStatus"]) for _, e in events) == [
        (1, 1, "Occupied"),
        (1, 2, "Occupied"),
    ]
    history = await db.fetch(
        "SELECT connector_id, evse_connector_id, status, connector_status, charging_state,"
        " connector_error_code FROM registry.status_history WHERE charge_point_id = $1"
        " ORDER BY evse_connector_id",
        cp,
    )
    assert [tuple(h) for h in history] == [
        (1, 1, "Preparing", "Occupied", None, "NoError"),
        (1, 2, "Preparing", "Occupied", None, "NoError"),
    ]
    # Delivered again (a redelivery): nothing more.
    async with sessions() as session, session.begin():
        again = RecordingCall(
            session=session,
            settings=settings,
            outbox=outbox,
            charge_point_id=cp,
            received_at=T0,
            ocpp_version=OcppVersion.V201,
        )
        again.events = []
        await status_notification_v201(occupied(2), again)
    assert again.events == []
    count = await db.fetchval(
        "SELECT count(*) FROM registry.status_history WHERE charge_point_id = $1", cp
    )
    assert count == 2

"""Events followed per station, against the real broker (bus/stations.py): the outbox relay
publishes each event about a station with its station's key as well; a queue bound to that key
gets that station's events alone, once, under the event's own routing key and without the
header; a queue bound to the plain key (or `#`) still gets every event once. A
`command.completed` is routed by its action's key too: a service following some actions gets
their outcomes alone."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from sqlalchemy import MetaData, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from csms_shared.bus.outbox import OutboxRelay, outbox_table
from csms_shared.bus.stations import (
    HEADER_BCC,
    StationBindings,
    about,
    action_key,
    bind_events,
    binding_patterns,
    routing_headers,
    station_key,
    station_of,
)
from csms_shared.contracts.events import EVENTS as EVENT_MODELS
from csms_shared.contracts.events import CommandCompleted, MeterCurrent, TransactionStarted
from csms_shared.db import create_engine, session_factory
from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.infra import Infra

pytestmark = pytest.mark.integration

# A charge point id may hold what a topic key reads as a word separator and wildcards.
FOLLOWED, OTHER = "site.*.#1", "CP-2"
PATTERNS = ["transaction.started", "meter.current"]
END = "test.end"  # published last: a queue that got it got everything before it


@pytest.fixture
async def relay(infra: Infra) -> AsyncIterator[tuple[Any, async_sessionmaker[AsyncSession]]]:
    """An outbox table in a schema of its own."""
    schema = f"stations_{secrets.token_hex(3)}"
    table = outbox_table(MetaData(schema=schema))
    engine: AsyncEngine = create_engine(infra.database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(table.metadata.create_all)
    yield table, session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def connection(infra: Infra) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(infra.broker_url)
    yield connection
    await connection.close()


@pytest.fixture
async def channel(connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractChannel:
    return await connection.channel(publisher_confirms=True)


def started(cp_id: str) -> TransactionStarted:
    now = utcnow().isoformat()
    return TransactionStarted.model_validate(
        {
            "transactionId": 1,
            "chargePointId": cp_id,
            "stationTransactionId": "1",
            "ocppVersion": "1.6",
            "connectorId": 1,
            "meterStart": 0,
            "startTime": now,
            "lastSeen": now,
            "warnings": [],
            "currency": "EUR",
            "pricePerKwh": 0,
            "sessionFee": 0,
            "active": True,
            "stale": False,
        }
    )


def current(cp_id: str) -> MeterCurrent:
    return MeterCurrent(
        charge_point_id=cp_id,
        connector_id=1,
        amps=16,
        read_at=utcnow(),
        ocpp_version=OcppVersion.V16,
    )


def completed(action: str, cp_id: str = OTHER) -> CommandCompleted:
    return CommandCompleted(
        at=utcnow(), command_id=f"c-{action}", charge_point_id=cp_id, action=action, status="result"
    )


class Rig:
    """A topic exchange of the test's own, standing in for ocpp.events; the relay publishing to
    it; one queue following per station, one following everything."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, relay: Any) -> None:
        self.channel = channel
        self.table, self.sessions = relay

    async def start(self) -> None:
        self.exchange = await self.channel.declare_exchange(
            f"stations.{secrets.token_hex(3)}", aio_pika.ExchangeType.TOPIC, auto_delete=True
        )
        self.per_station = await self.channel.declare_queue(exclusive=True)
        self.everything = await self.channel.declare_queue(exclusive=True)
        for queue in (self.per_station, self.everything):
            await queue.bind(self.exchange, END)
        # The ordinary follower: by the plain key and by `#`, as a webhook of `*` binds.
        for key in (*PATTERNS, "#"):
            await self.everything.bind(self.exchange, key)
        # The runtime binds the plain patterns at start, as for any other.
        for key in PATTERNS:
            await self.per_station.bind(self.exchange, key)
        self.bindings = StationBindings(self.per_station, self.exchange, PATTERNS)

    async def publish(self, *events: Any) -> None:
        """Through the outbox relay, then the END marker."""
        rows = [{"routing_key": e.key(), "body": e.encode()} for e in events]
        rows.append({"routing_key": END, "body": b"{}"})
        async with self.sessions() as session, session.begin():
            await session.execute(insert(self.table), rows)
        relay = OutboxRelay(self.sessions, self.table, self.channel, self.exchange.name)
        while await relay.drain_once():
            pass

    async def received(self, queue: aio_pika.abc.AbstractQueue) -> list[tuple[str, str]]:
        """(routing key, station) of each message up to END; no BCC header on any."""
        got: list[tuple[str, str]] = []
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                assert HEADER_BCC not in (message.headers or {})
                if message.routing_key == END:
                    return got
                got.append((message.routing_key or "", station_of(message.body)))
        raise AssertionError("the queue closed")


@pytest.fixture
async def rig(channel: aio_pika.abc.AbstractChannel, relay: Any) -> Rig:
    rig = Rig(channel, relay)
    await rig.start()
    return rig


def both(cp_ids: tuple[str, ...] = (FOLLOWED, OTHER)) -> list[Any]:
    return [event for cp in cp_ids for event in (started(cp), current(cp))]


def keys(cp_ids: tuple[str, ...] = (FOLLOWED, OTHER)) -> list[tuple[str, str]]:
    return [(key, cp) for cp in cp_ids for key in PATTERNS]


async def test_a_queue_bound_to_a_stations_keys_gets_that_stations_events_alone(
    rig: Rig,
) -> None:
    # Before the service bound its stations: every station's, by the plain bindings.
    await rig.publish(*both())
    assert await rig.received(rig.per_station) == keys()
    assert await rig.received(rig.everything) == keys()

    await rig.bindings.follow([FOLLOWED])
    await rig.bindings.narrow()
    await rig.publish(*both())
    assert await rig.received(rig.per_station) == keys((FOLLOWED,))
    # Matched by its plain key, `#` and (for the followed station) its station's key: once.
    assert await rig.received(rig.everything) == keys()

    # After a reconnection the runtime widens: every station's again, until it narrows.
    assert rig.bindings.narrowed
    await rig.bindings.widen()
    assert not rig.bindings.narrowed
    await rig.publish(*both())
    assert await rig.received(rig.per_station) == keys()
    await rig.bindings.narrow()

    await rig.bindings.unfollow([FOLLOWED])
    await rig.publish(*both())
    assert await rig.received(rig.per_station) == []
    assert await rig.received(rig.everything) == keys()


def test_a_station_key_is_one_topic_word_of_hex_whatever_the_id_holds() -> None:
    key = station_key("transaction.started", FOLLOWED)
    assert key == "transaction.started.@" + FOLLOWED.encode().hex()
    assert key.count(".") == 2
    assert station_of(started(FOLLOWED).encode()) == FOLLOWED
    assert station_of(b'{"event": "gateway.heartbeat"}') == ""
    assert station_of(b"not json") == ""
    assert station_of(b'{"chargePointId": 7}') == ""


def test_a_family_followed_whole_is_bound_by_one_key_a_station() -> None:
    known = EVENT_MODELS
    every_transaction = [k for k in known if k.startswith("transaction.")]
    assert binding_patterns([*every_transaction, "meter.current"], known) == (
        "meter.current",
        "transaction.*",
    )
    # meter.values is not followed: meter.current stays a key of its own.
    assert binding_patterns(["transaction.started", "meter.current"], known) == (
        "meter.current",
        "transaction.started",
    )


async def test_a_start_binds_many_stations_over_several_channels(
    rig: Rig, connection: aio_pika.abc.AbstractConnection
) -> None:
    every_transaction = sorted(k for k in EVENT_MODELS if k.startswith("transaction."))
    stations = StationBindings(rig.per_station, rig.exchange, every_transaction, EVENT_MODELS)
    assert stations.keys == ("transaction.*",)
    # Channels of the queue's own connection (it is exclusive, as a service's is not).
    extra = [await connection.channel() for _ in range(3)]
    await stations.follow_all([FOLLOWED, "CP-3", "CP-4"], extra)
    await stations.narrow()
    await rig.bindings.narrow()  # the rig's own plain keys too
    await rig.publish(*both(), started("CP-4"))
    assert await rig.received(rig.per_station) == [
        ("transaction.started", FOLLOWED),
        ("transaction.started", "CP-4"),
    ]


async def test_a_queue_following_some_actions_gets_their_outcomes_alone(rig: Rig) -> None:
    # A queue an earlier release bound to every outcome: the runtime binds the actions' keys,
    # then drops the plain one.
    queue = await rig.channel.declare_queue(exclusive=True)
    for key in ("command.completed", END):
        await queue.bind(rig.exchange, key)
    await bind_events(
        queue,
        rig.exchange,
        ["command.completed", "meter.current"],
        {"command.completed": ("ReserveNow", "SendLocalList")},
    )
    odd = completed("Get.Configuration#")  # a refused request may name anything
    await rig.publish(
        completed("GetConfiguration"),
        completed("ReserveNow", FOLLOWED),
        odd,
        current(OTHER),
        completed("SendLocalList"),
    )
    got = [(key, cp) for key, cp in await rig.received(queue)]
    assert got == [
        ("command.completed", FOLLOWED),
        ("meter.current", OTHER),
        ("command.completed", OTHER),
    ]
    # The follower of everything still gets every outcome, once.
    assert [key for key, _ in await rig.received(rig.everything)].count("command.completed") == 4


def test_an_outcome_is_keyed_by_its_station_and_by_its_action_if_it_is_one() -> None:
    body = completed("ReserveNow", FOLLOWED).encode()
    assert about(body) == (FOLLOWED, "ReserveNow")
    assert routing_headers("command.completed", *about(body)) == {
        HEADER_BCC: [
            station_key("command.completed", FOLLOWED),
            "command.completed.action=ReserveNow",
        ]
    }
    assert action_key("command.completed", "ReserveNow") == "command.completed.action=ReserveNow"
    # Only command.completed is routed by action; an odd name gets no key; no station no key.
    assert routing_headers("transaction.started", "", "ReserveNow") is None
    assert routing_headers("command.completed", "", "a.b#") is None
    assert routing_headers("command.completed", "", "") is None
    # An action of an odd type never costs the station's key.
    assert about(b'{"chargePointId": "CP-1", "action": 7}') == ("CP-1", "")

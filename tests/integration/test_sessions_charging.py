"""Whole charging sessions through either gateway: id tags, transactions, meter values, cost,
events and the session-service's RPC reads. Helpers used by the other test_sessions_* files."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from csms_shared.bus.client import BusClient
from csms_shared.bus.rpc import RpcClient, RpcError
from csms_shared.bus.stations import about, routing_headers
from csms_shared.bus.topology import (
    CALLS,
    DECISIONS,
    EVENTS,
    HEADER_CHARGE_POINT,
    HEADER_GATEWAY,
    HEADER_MESSAGE_ID,
    HEADER_RECEIVED_AT,
    call_routing_key,
    declare_exchanges,
)
from csms_shared.contracts.rpc import RpcMethod, SessionsRpc
from csms_shared.ocpp._base import format_datetime, utcnow
from csms_shared.ocpp.version import OcppVersion
from tests.integration.support import BIN, CallErrorReply, ServiceProcess, eventually, free_port

pytestmark = pytest.mark.integration

SERVICE = "session-service"
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


# -- helpers (also imported by test_sessions_resilience) -----------------------------------------


def iso(at: datetime) -> str:
    """A time as a CP sends it."""
    return format_datetime(at)


def new_tag() -> str:
    """A fresh idTag (IdToken: at most 20 characters)."""
    return f"TAG-{uuid.uuid4().hex[:12]}"


class EventTap:
    """An exclusive queue of the test's own bound to `ocpp.events`: what integrations see."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], str | None]] = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.events.append(
            (message.routing_key or "", orjson.loads(message.body), message.message_id)
        )

    def of(self, routing_key: str, **match: Any) -> list[dict[str, Any]]:
        """Event bodies with this routing key whose fields equal `match`."""
        return [
            body
            for key, body, _ in self.events
            if key == routing_key and all(body.get(k) == v for k, v in match.items())
        ]

    def message_ids(self, routing_key: str, **match: Any) -> list[str | None]:
        """AMQP message ids of the matching events (duplicates of one event share one)."""
        return [
            mid
            for key, body, mid in self.events
            if key == routing_key and all(body.get(k) == v for k, v in match.items())
        ]

    async def wait(self, routing_key: str, count: int = 1, **match: Any) -> list[dict[str, Any]]:
        """Wait until `count` matching events arrived; returns them."""

        async def arrived() -> list[dict[str, Any]] | None:
            found = self.of(routing_key, **match)
            return found if len(found) >= count else None

        result: list[dict[str, Any]] = await eventually(arrived)
        return result


class Bus:
    """The test's own AMQP connection: RPC to the session-service, event taps, raw calls."""

    def __init__(
        self, channel: AbstractChannel, exchanges: dict[str, AbstractExchange], rpc: BusClient
    ) -> None:
        self.channel = channel
        self.exchanges = exchanges
        self.client = RpcClient(rpc)
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.reply_queue = ""
        self.user = "guest"

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Bus]:
        connection = await aio_pika.connect_robust(url)
        rpc = BusClient(url, name="test rpc")
        try:
            await rpc.start()
            channel = await connection.channel()
            bus = cls(channel, await declare_exchanges(channel), rpc)
            bus.user = connection.url.user or "guest"
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.consume(bus._on_reply, no_ack=True)
            bus.reply_queue = queue.name
            yield bus
        finally:
            await rpc.close()
            await connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        self.replies.setdefault(message.correlation_id or "", []).append(orjson.loads(message.body))

    async def rpc(self, method: RpcMethod[Any, Any], **params: Any) -> Any:
        """Call a session-service RPC method with params as given (camelCase JSON, invalid
        ones included); its result as JSON."""
        return await self.client.call_raw(method, orjson.dumps(params), timeout=10)

    async def tap(self, *patterns: str) -> EventTap:
        """Start collecting the events matching `patterns`."""
        tap = EventTap()
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        for pattern in patterns:
            await queue.bind(self.exchanges[EVENTS.name], pattern)
        await queue.consume(tap.on_message, no_ack=True)
        return tap

    async def publish_call(
        self, cp_id: str, action: str, payload: dict[str, Any], *, reply: bool = True
    ) -> str:
        """A CP's CALL as a gateway publishes it; the correlation id its reply will carry."""
        correlation_id = uuid.uuid4().hex
        received = utcnow()
        # As a gateway: a call it waits on goes to the decisions' lane.
        lane = DECISIONS if reply else CALLS
        await self.exchanges[lane.name].publish(
            aio_pika.Message(
                orjson.dumps(payload),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=correlation_id if reply else None,
                reply_to=self.reply_queue if reply else None,
                # As a gateway's publish carries it: services take calls only from gateways.
                user_id=self.user,
                headers={
                    HEADER_CHARGE_POINT: cp_id,
                    HEADER_MESSAGE_ID: correlation_id[:36],
                    HEADER_GATEWAY: "test",
                    HEADER_RECEIVED_AT: received.isoformat(),
                },
            ),
            routing_key=call_routing_key(action, OcppVersion.V16),
            mandatory=True,
        )
        return correlation_id

    async def publish_event(self, routing_key: str, body: dict[str, Any]) -> None:
        """An event on `ocpp.events`, as another service would publish it (routed by its
        station's and its action's keys too, bus/stations.py)."""
        encoded = orjson.dumps(body)
        await self.exchanges[EVENTS.name].publish(
            aio_pika.Message(
                encoded,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers=routing_headers(routing_key, *about(encoded)),
            ),
            routing_key=routing_key,
        )


@contextlib.asynccontextmanager
async def extra_session_service(
    suite: Any, log_dir: Path, **env: str
) -> AsyncIterator[tuple[ServiceProcess, int]]:
    """A second session-service process (a replica) beside the suite's, and its internal port."""
    port = free_port()
    process = ServiceProcess(
        "session-service-2",
        [str(BIN / SERVICE)],
        suite.env | {"SESSION_INTERNAL_PORT": str(port)} | env,
        log_dir,
    )
    process.start()
    try:
        # In a thread: the event loop keeps serving whatever the test runs beside the replica.
        await asyncio.to_thread(process.wait_ready, f"http://127.0.0.1:{port}/readyz")
        yield process, port
    finally:
        await asyncio.to_thread(process.stop)


async def transaction_row(db: asyncpg.Connection, transaction_id: int) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM sessions.transactions WHERE id = $1", transaction_id)
    assert row is not None
    return row


def register(wh: int | str, unit: str = "Wh", context: str = "Sample.Periodic") -> dict[str, Any]:
    """A sampled value of the active import register."""
    return {
        "value": str(wh),
        "context": context,
        "format": "Raw",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": unit,
    }


@pytest.fixture
async def bus(suite: Any) -> AsyncIterator[Bus]:
    async with Bus.open(suite.infra.broker_url) as opened:
        yield opened


# -- a whole session --------------------------------------------------------------------------


@pytest.mark.parametrize("gateway", [0, 1])
async def test_full_session_through_either_gateway(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus, gateway: int
) -> None:
    tap = await bus.tap("transaction.*", "meter.values")
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, parentIdTag="FLEET-1")
    cp = await connect_cp(cp_id, gateway)
    await cp.call("BootNotification", BOOT)

    authorized = await cp.call("Authorize", {"idTag": tag})
    assert authorized == {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET-1"}}

    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": iso(t0)},
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    tx_id = started["transactionId"]
    assert isinstance(tx_id, int)

    # Every sampledValue field, and a register in kWh (5.5 kWh = 5500 Wh).
    first = [
        {
            "timestamp": iso(t0 + timedelta(minutes=10)),
            "sampledValue": [
                register("5.5", unit="kWh"),
                {
                    "value": "7400",
                    "context": "Sample.Periodic",
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                },
                {
                    "value": "230.1",
                    "measurand": "Voltage",
                    "phase": "L1-N",
                    "location": "Outlet",
                    "unit": "V",
                },
                {"value": "41", "measurand": "SoC", "location": "EV", "unit": "Percent"},
            ],
        }
    ]
    second = [{"timestamp": iso(t0 + timedelta(minutes=20)), "sampledValue": [register(9000)]}]
    assert (
        await cp.call(
            "MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": first}
        )
        == {}
    )
    assert (
        await cp.call(
            "MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": second}
        )
        == {}
    )

    stopped = await cp.call(
        "StopTransaction",
        {
            "transactionId": tx_id,
            "idTag": tag,
            "meterStop": 13500,
            "timestamp": iso(t0 + timedelta(minutes=30)),
            "reason": "EVDisconnected",
            "transactionData": [
                {
                    "timestamp": iso(t0 + timedelta(minutes=30)),
                    "sampledValue": [register(13500, context="Transaction.End")],
                }
            ],
        },
    )
    assert stopped == {"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET-1"}}

    row = await transaction_row(db, tx_id)
    assert (row["charge_point_id"], row["connector_id"], row["id_tag"]) == (cp_id, 1, tag)
    assert (row["meter_start"], row["meter_stop"], row["energy_wh"]) == (1000, 13500, 12500)
    assert row["start_time"] == t0
    assert row["stop_reason"] == "EVDisconnected"
    assert row["stopped_by"] == "ChargePoint"
    # 1.6 connector 1 is EVSE 1, connector 1 (the fold of its Started event said so: tx_v16.py).
    assert row["evse_connector_id"] == 1
    # The suite runs the default tariff: 0.30 EUR per kWh, no session fee.
    assert (str(row["cost"]), row["currency"]) == ("3.75", "EUR")
    assert row["warnings"] == "[]"

    async def stored_values() -> list[asyncpg.Record]:
        rows = await db.fetch(
            "SELECT * FROM sessions.meter_values WHERE transaction_id = $1 ORDER BY timestamp, id",
            tx_id,
        )
        return rows if len(rows) == 6 else []

    values = await eventually(stored_values)
    voltage = next(v for v in values if v["measurand"] == "Voltage")
    assert (voltage["value"], voltage["phase"], voltage["location"], voltage["unit"]) == (
        "230.1",
        "L1-N",
        "Outlet",
        "V",
    )
    assert voltage["context"] is None and voltage["format"] is None
    assert [v["source"] for v in values][-1] == "StopTransaction"
    assert values[-1]["context"] == "Transaction.End"

    # What integrations see.
    (started_event,) = await tap.wait("transaction.started", transactionId=tx_id)
    assert started_event["v"] == 1
    assert started_event["chargePointId"] == cp_id
    assert started_event["meterStart"] == 1000
    assert started_event["startTime"] == iso(t0)
    (stopped_event,) = await tap.wait("transaction.stopped", transactionId=tx_id)
    assert stopped_event["energyWh"] == 12500
    assert stopped_event["cost"] == 3.75
    assert stopped_event["stopTime"].endswith("Z")
    assert stopped_event["durationSeconds"] == 1800
    meter_events = await tap.wait("meter.values", 2, chargePointId=cp_id)
    assert {e["transactionId"] for e in meter_events} == {tx_id}
    units = {e["meterValue"][0]["sampledValue"][0].get("unit") for e in meter_events}
    assert units == {"kWh", "Wh"}

    # What command-api reads over RPC.
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=tx_id)
    assert {k: doc[k] for k in ("energyWh", "cost", "currency", "active", "meterStop")} == {
        "energyWh": 12500,
        "cost": 3.75,
        "currency": "EUR",
        "active": False,
        "meterStop": 13500,
    }
    assert [mv["timestamp"] for mv in doc["meterValues"]] == sorted(
        mv["timestamp"] for mv in doc["meterValues"]
    )
    assert doc["meterValuesTotal"] == 6
    listed = await bus.rpc(SessionsRpc.list_transactions, chargePointId=cp_id)
    assert listed["total"] == 1 and listed["items"][0]["transactionId"] == tx_id
    report = await bus.rpc(
        SessionsRpc.energy_report,
        chargePointId=cp_id,
        **{"from": iso(t0 - timedelta(days=1)), "to": iso(utcnow() + timedelta(days=1))},
    )
    assert report["items"] == [
        {
            "chargePointId": cp_id,
            "day": (t0 + timedelta(minutes=30)).date().isoformat(),
            "currency": "EUR",
            "transactions": 1,
            "energyWh": 12500,
            "energyKWh": 12.5,
            "cost": 3.75,
            "costExclVat": 3.75,  # the environment's prices state no VAT
        }
    ]


async def test_a_reading_with_a_current_is_published_as_meter_current_too(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    """`meter.current` follows the `meter.values` of a reading with a Current.Import (its
    highest phase), and not one without: the allocator follows it, not every reading."""
    tap = await bus.tap("meter.values", "meter.current")
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    read = utcnow().replace(microsecond=0) - timedelta(minutes=2)
    phases = [
        {"value": value, "measurand": "Current.Import", "phase": phase, "unit": "A"}
        for value, phase in (("15.8", "L1"), ("16.1", "L2"), ("15.9", "L3"))
    ]
    later = read + timedelta(minutes=2)
    sent = [
        [{"timestamp": iso(read), "sampledValue": [register(4000), *phases]}],
        [{"timestamp": iso(read + timedelta(minutes=1)), "sampledValue": [register(4100)]}],
        [{"timestamp": iso(later), "sampledValue": [register(4200), phases[0]]}],
    ]
    for readings in sent:
        assert await cp.call("MeterValues", {"connectorId": 1, "meterValue": readings}) == {}
    # The third's meter.current comes after the one the second would have had.
    currents = await tap.wait("meter.current", 2, chargePointId=cp_id)
    assert [(c["connectorId"], c["amps"], c["readAt"]) for c in currents] == [
        (1, 16.1, iso(read)),
        (1, 15.8, iso(later)),
    ]
    assert len(tap.of("meter.values", chargePointId=cp_id)) == 3
    assert not any("transactionId" in c for c in currents)


async def test_active_transaction_shows_energy_so_far_from_the_register(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    start = utcnow() - timedelta(minutes=5)
    tx_id = (
        await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": tag, "meterStart": 2000, "timestamp": iso(start)},
        )
    )["transactionId"]
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": iso(utcnow()), "sampledValue": [register("3.25", "kWh")]}],
        },
    )

    async def energy_so_far() -> dict[str, Any] | None:
        doc: dict[str, Any] = await bus.rpc(SessionsRpc.get_transaction, transactionId=tx_id)
        return doc if doc.get("energyWh") == 1250 else None

    doc = await eventually(energy_so_far)
    assert doc["active"] is True and "stopTime" not in doc and "cost" not in doc
    active = await bus.rpc(SessionsRpc.list_transactions, chargePointId=cp_id, active=True)
    assert [t["transactionId"] for t in active["items"]] == [tx_id]
    assert (await bus.rpc(SessionsRpc.list_transactions, chargePointId=cp_id, active=False))[
        "total"
    ] == 0


# -- id tags ----------------------------------------------------------------------------------


async def test_unknown_id_tag_is_invalid_and_still_gets_a_transaction_id(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cp = await connect_cp(cp_id)
    tag = new_tag()
    assert await cp.call("Authorize", {"idTag": tag}) == {"idTagInfo": {"status": "Invalid"}}
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": iso(utcnow())},
    )
    assert started["idTagInfo"] == {"status": "Invalid"}
    row = await transaction_row(db, started["transactionId"])
    # Kept in our terms (docs/vocabulary.md): Unknown, which a 1.6 CP is told as Invalid.
    assert row["id_tag_status"] == "Unknown"


async def test_ids_of_ours_past_32_bits_name_none_and_fail_nothing(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    """Our reservations and transactions have 32-bit ids: a larger reservationId is not in
    force, and the start is judged and stored as one naming none (the column is 32-bit); a
    larger transactionId is a transaction we do not know."""
    cp = await connect_cp(cp_id)
    start = {"connectorId": 1, "idTag": new_tag(), "meterStart": 0, "timestamp": iso(utcnow())}
    started = await cp.call("StartTransaction", start | {"reservationId": 2**31})
    row = await transaction_row(db, started["transactionId"])
    assert row["reservation_id"] is None
    assert f"reservationId {2**31} is not in force" in str(row["warnings"])
    # Nor does a transactionId: the readings are kept against the connector, the stop for
    # review, as those of any transaction we do not know.
    sample = {"timestamp": iso(utcnow()), "sampledValue": [{"value": "17"}]}
    meter = {"connectorId": 1, "transactionId": 2**31, "meterValue": [sample]}
    assert await cp.call("MeterValues", meter) == {}
    stop = {"transactionId": 2**31, "meterStop": 17, "timestamp": iso(utcnow())}
    assert await cp.call("StopTransaction", stop) == {}

    async def kept() -> bool:
        reading = await db.fetchval(
            "SELECT transaction_id IS NULL FROM sessions.meter_values"
            " WHERE charge_point_id = $1 AND value = '17'",
            cp_id,
        )
        stops = await db.fetchval(
            "SELECT count(*) FROM sessions.unmatched_stops"
            " WHERE charge_point_id = $1 AND transaction_id = $2",
            cp_id,
            2**31,
        )
        return reading is True and stops == 1

    await eventually(kept)

    # A connector number past 32 bits names no connector: refused where it arrives, by name.
    status = {"connectorId": 2**31, "errorCode": "NoError", "status": "Available"}
    for action, payload in (("StatusNotification", status), ("StartTransaction", start)):
        with pytest.raises(CallErrorReply) as refused:
            await cp.call(action, payload | {"connectorId": 2**31})
        assert refused.value.code == "PropertyConstraintViolation"
        assert refused.value.description.startswith("connectorId: ")


async def test_blocked_expired_and_unblocked_tags(connect_cp: Any, cp_id: str, bus: Bus) -> None:
    cp = await connect_cp(cp_id)
    tag, old = new_tag(), new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    await bus.rpc(
        SessionsRpc.create_id_tag, idTag=old, expiryDate=iso(utcnow() - timedelta(days=1))
    )

    assert (await bus.rpc(SessionsRpc.block_id_tag, idTag=tag))["status"] == "Blocked"
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Blocked"
    assert (await bus.rpc(SessionsRpc.unblock_id_tag, idTag=tag))["status"] == "Accepted"
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"

    expired = (await cp.call("Authorize", {"idTag": old}))["idTagInfo"]
    assert expired["status"] == "Expired"
    assert expired["expiryDate"].endswith("Z")
    future = iso(utcnow() + timedelta(days=365))
    renewed = await bus.rpc(SessionsRpc.update_id_tag, idTag=old, expiryDate=future)
    # The same instant; its text drops a fraction of .000 (one run in a thousand).
    assert renewed["expiryDate"].endswith("Z")
    assert datetime.fromisoformat(renewed["expiryDate"]) == datetime.fromisoformat(future)
    assert (await cp.call("Authorize", {"idTag": old}))["idTagInfo"]["status"] == "Accepted"


async def test_id_tags_match_without_case_and_a_blocked_group_blocks_members(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    cp = await connect_cp(cp_id)
    group, member = new_tag(), new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=group)
    await bus.rpc(SessionsRpc.create_id_tag, idTag=member.lower(), parentIdTag=group)
    info = (await cp.call("Authorize", {"idTag": member.upper()}))["idTagInfo"]
    assert info == {"status": "Accepted", "parentIdTag": group}
    await bus.rpc(SessionsRpc.block_id_tag, idTag=group)
    assert (await cp.call("Authorize", {"idTag": member}))["idTagInfo"]["status"] == "Blocked"


async def test_concurrent_transactions_beyond_the_tags_limit(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, maxConcurrentTx=1)
    cp = await connect_cp(cp_id)
    other = await connect_cp(f"{cp_id}-B", 1)
    now = utcnow()
    first = await cp.call(
        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": iso(now)}
    )
    assert first["idTagInfo"]["status"] == "Accepted"
    # Presenting the card again at the same CP (to stop) is not refused...
    assert (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
    # ...but at another CP it is, and a second start anywhere is ConcurrentTx.
    assert (await other.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "ConcurrentTx"
    second = await cp.call(
        "StartTransaction", {"connectorId": 2, "idTag": tag, "meterStart": 0, "timestamp": iso(now)}
    )
    assert second["idTagInfo"]["status"] == "ConcurrentTx"
    assert second["transactionId"] != first["transactionId"]
    await cp.call(
        "StopTransaction",
        {"transactionId": first["transactionId"], "meterStop": 10, "timestamp": iso(utcnow())},
    )
    await cp.call(
        "StopTransaction",
        {"transactionId": second["transactionId"], "meterStop": 0, "timestamp": iso(utcnow())},
    )
    assert (await other.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"


async def test_id_tag_rpc_crud(bus: Bus) -> None:
    tag = new_tag()
    created = await bus.rpc(
        SessionsRpc.create_id_tag, idTag=tag, status="Accepted", maxConcurrentTx=2, note="fleet car"
    )
    assert created["idTag"] == tag and created["maxConcurrentTx"] == 2
    assert (await bus.rpc(SessionsRpc.get_id_tag, idTag=tag.lower()))["note"] == "fleet car"
    with pytest.raises(RpcError) as exc:
        await bus.rpc(SessionsRpc.create_id_tag, idTag=tag.lower())
    assert exc.value.code == "conflict"
    with pytest.raises(RpcError) as exc:
        await bus.rpc(SessionsRpc.create_id_tag, idTag=new_tag(), status="ConcurrentTx")
    assert exc.value.code == "invalid" and "status" in exc.value.message
    with pytest.raises(RpcError) as exc:
        await bus.rpc(SessionsRpc.create_id_tag, idTag="X" * 37)
    assert exc.value.code == "invalid"

    updated = await bus.rpc(
        SessionsRpc.update_id_tag, idTag=tag, maxConcurrentTx=None, status="Invalid"
    )
    assert "maxConcurrentTx" not in updated and updated["status"] == "Invalid"
    page = await bus.rpc(SessionsRpc.list_id_tags, search=tag[4:], limit=10)
    assert [t["idTag"] for t in page["items"]] == [tag]
    assert page["total"] == 1 and page["limit"] == 10 and page["offset"] == 0

    assert await bus.rpc(SessionsRpc.delete_id_tag, idTag=tag) == {"idTag": tag, "deleted": True}
    with pytest.raises(RpcError) as exc:
        await bus.rpc(SessionsRpc.get_id_tag, idTag=tag)
    assert exc.value.code == "not_found"
    with pytest.raises(RpcError) as exc:
        await bus.rpc(SessionsRpc.list_transactions, limit=0)
    assert exc.value.code == "invalid"


# -- reservations (the command.completed events command-api publishes) ------------------------


def completed(
    cp_id: str, action: str, request: dict[str, Any], response: dict[str, Any]
) -> dict[str, Any]:
    """A `command.completed` event as command-api publishes it."""
    return {
        "v": 1,
        "event": "command.completed",
        "at": iso(utcnow()),
        "commandId": uuid.uuid4().hex,
        "chargePointId": cp_id,
        "action": action,
        "request": request,
        "status": "result",
        "response": response,
    }


async def reserve(
    bus: Bus, cp_id: str, reservation_id: int, tag: str, *, connector: int = 1, **extra: Any
) -> dict[str, Any]:
    """An accepted ReserveNow; waits until the session-service has recorded it."""
    request = {
        "connectorId": connector,
        "expiryDate": iso(utcnow() + timedelta(hours=1)),
        "idTag": tag,
        "reservationId": reservation_id,
    } | extra
    await bus.publish_event(
        "command.completed", completed(cp_id, "ReserveNow", request, {"status": "Accepted"})
    )

    async def recorded() -> dict[str, Any] | None:
        page = await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id)
        found = [r for r in page["items"] if r["reservationId"] == reservation_id]
        return found[0] if found else None

    result: dict[str, Any] = await eventually(recorded)
    return result


async def known_connectors(db: asyncpg.Connection, cp_id: str, count: int) -> bool:
    rows = await db.fetch("SELECT 1 FROM sessions.connectors WHERE charge_point_id = $1", cp_id)
    return len(rows) >= count


async def test_reservation_admits_its_tag_refuses_others_and_is_consumed(
    connect_cp: Any, cp_id: str, bus: Bus, db: asyncpg.Connection
) -> None:
    mine, theirs = new_tag(), new_tag()
    for tag in (mine, theirs):
        await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    await cp.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    )
    await eventually(lambda: known_connectors(db, cp_id, 1))
    reservation = await reserve(bus, cp_id, 41, mine)
    assert reservation["status"] == "Active" and reservation["expiryDate"].endswith("Z")

    # The CP's only connector is held for `mine`.
    assert (await cp.call("Authorize", {"idTag": theirs}))["idTagInfo"]["status"] == "Invalid"
    assert (await cp.call("Authorize", {"idTag": mine}))["idTagInfo"]["status"] == "Accepted"
    refused = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": theirs, "meterStart": 0, "timestamp": iso(utcnow())},
    )
    assert refused["idTagInfo"]["status"] == "Invalid"
    assert isinstance(refused["transactionId"], int)

    started = await cp.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": mine,
            "meterStart": 0,
            "timestamp": iso(utcnow()),
            "reservationId": 41,
        },
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    (used,) = (await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id))["items"]
    assert used["status"] == "Used" and used["transactionId"] == started["transactionId"]
    assert (await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id, active=True))[
        "total"
    ] == 0


async def test_cancelled_rejected_and_expired_reservations_hold_nothing(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    mine, theirs = new_tag(), new_tag()
    for tag in (mine, theirs):
        await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)

    # A ReserveNow the CP did not accept makes no reservation.
    rejected = {"connectorId": 1, "expiryDate": iso(utcnow() + timedelta(hours=1))}
    rejected |= {"idTag": mine, "reservationId": 50}
    await bus.publish_event(
        "command.completed", completed(cp_id, "ReserveNow", rejected, {"status": "Occupied"})
    )
    await reserve(bus, cp_id, 51, mine)
    assert (await cp.call("Authorize", {"idTag": theirs}))["idTagInfo"]["status"] == "Invalid"
    await bus.publish_event(
        "command.completed",
        completed(cp_id, "CancelReservation", {"reservationId": 51}, {"status": "Accepted"}),
    )

    async def cancelled() -> bool:
        page = await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id)
        return [(r["reservationId"], r["status"]) for r in page["items"]] == [(51, "Cancelled")]

    await eventually(cancelled)
    assert (await cp.call("Authorize", {"idTag": theirs}))["idTagInfo"]["status"] == "Accepted"

    # A reservation past its expiryDate holds nothing, swept or not.
    soon = iso(utcnow() + timedelta(seconds=1))
    await reserve(bus, cp_id, 52, mine, expiryDate=soon)

    async def expired() -> bool:
        info = (await cp.call("Authorize", {"idTag": theirs}))["idTagInfo"]
        return bool(info["status"] == "Accepted")

    await eventually(expired)
    assert (await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id, active=True))[
        "total"
    ] == 0


async def test_start_on_a_reserved_connector_without_reservation_id_consumes_it(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    group, member = new_tag(), new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=member, parentIdTag=group)
    cp = await connect_cp(cp_id)
    # Reserved for the group: any member may use it (parentIdTag, OCPP 1.6 section 5.13).
    await reserve(bus, cp_id, 60, new_tag(), connector=2, parentIdTag=group)
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 2, "idTag": member, "meterStart": 0, "timestamp": iso(utcnow())},
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    (used,) = (await bus.rpc(SessionsRpc.list_reservations, chargePointId=cp_id))["items"]
    assert used["status"] == "Used" and used["transactionId"] == started["transactionId"]
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=started["transactionId"])
    assert doc["reservationId"] == 60

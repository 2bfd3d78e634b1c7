"""What real charge points and crashes produce: re-sends, races between replicas, lost stops,
stale transactions, a service killed between commit and ack, and valid nonsense."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.rpc import SessionsRpc
from csms_shared.ocpp._base import utcnow
from tests.integration.support import eventually, metric
from tests.integration.test_sessions_charging import (
    Bus,
    extra_session_service,
    iso,
    new_tag,
    register,
    transaction_row,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(suite: Any) -> Any:
    async with Bus.open(suite.infra.broker_url) as opened:
        yield opened


async def count(db: asyncpg.Connection, sql: str, *args: Any) -> int:
    return int(await db.fetchval(sql, *args))


async def start(cp: Any, tag: str, *, connector: int = 1, meter: int = 0, at: Any = None) -> int:
    reply = await cp.call(
        "StartTransaction",
        {
            "connectorId": connector,
            "idTag": tag,
            "meterStart": meter,
            "timestamp": iso(at or utcnow()),
        },
    )
    transaction_id: int = reply["transactionId"]
    return transaction_id


# -- item 4: idempotency and the awkward cases ------------------------------------------------


async def test_resent_start_transaction_gets_the_same_transaction_id(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tap = await bus.tap("transaction.*")
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, maxConcurrentTx=1)
    cp = await connect_cp(cp_id)
    payload = {"connectorId": 1, "idTag": tag, "meterStart": 500, "timestamp": iso(utcnow())}
    first = await cp.call("StartTransaction", payload)
    again = await cp.call("StartTransaction", payload)
    # The same answer: the copy is not counted against the tag's limit of one.
    assert again == first
    assert first["idTagInfo"]["status"] == "Accepted"
    rows = await db.fetch("SELECT id FROM sessions.transactions WHERE charge_point_id = $1", cp_id)
    assert [r["id"] for r in rows] == [first["transactionId"]]

    # One outbox publishes in order: once the stop's event is here, a second start would be too.
    await cp.call(
        "StopTransaction",
        {"transactionId": first["transactionId"], "meterStop": 600, "timestamp": iso(utcnow())},
    )
    await tap.wait("transaction.stopped", transactionId=first["transactionId"])
    assert len(tap.of("transaction.started", chargePointId=cp_id)) == 1


async def test_duplicate_start_transactions_racing_at_two_consumers(
    suite: Any, bus: Bus, db: asyncpg.Connection, cp_id: str, tmp_path: Path
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    pairs = 20
    async with extra_session_service(suite, tmp_path) as (_, replica_port):
        main_port = suite.internal_ports["session-service"]
        ok_before = await metric(main_port, "csms_messages_handled_total", kind="call")
        copies_before = sum(
            [
                await metric(port, "csms_session_duplicates_total", action="StartTransaction")
                for port in (main_port, replica_port)
            ]
        )
        at = utcnow()
        payloads = [
            {
                "connectorId": 1 + i,
                "idTag": tag,
                "meterStart": 1000 + i,
                "timestamp": iso(at + timedelta(seconds=i)),
            }
            for i in range(pairs)
        ]
        # Both copies of each start published back to back: the two consumers (and the
        # concurrent handlers inside each) take them at the same time.
        ids = await asyncio.gather(
            *(
                bus.publish_call(cp_id, "StartTransaction", payload)
                for payload in payloads
                for _ in range(2)
            )
        )

        async def all_answered() -> bool:
            return all(bus.replies.get(i) for i in ids)

        await eventually(all_answered)
        answers = [bus.replies[i][0]["payload"]["transactionId"] for i in ids]
        for n in range(pairs):
            assert answers[2 * n] == answers[2 * n + 1], f"copies of start {n} got two ids"
        assert len(set(answers)) == pairs
        rows = await count(
            db, "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1", cp_id
        )
        assert rows == pairs
        copies = sum(
            [
                await metric(port, "csms_session_duplicates_total", action="StartTransaction")
                for port in (main_port, replica_port)
            ]
        )
        assert copies - copies_before == pairs
        # Both processes consumed some of them: two consumers really raced.
        assert await metric(replica_port, "csms_messages_handled_total", kind="call") > 0
        assert await metric(main_port, "csms_messages_handled_total", kind="call") > ok_before


async def test_repeated_stop_transaction_changes_nothing_twice(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tap = await bus.tap("transaction.stopped", "meter.values")
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    tx_id = await start(cp, tag, meter=100)
    stop = {
        "transactionId": tx_id,
        "idTag": tag,
        "meterStop": 2100,
        "timestamp": iso(utcnow()),
        "reason": "Local",
        "transactionData": [
            {
                "timestamp": iso(utcnow()),
                "sampledValue": [register(2100, context="Transaction.End")],
            }
        ],
    }
    first = await cp.call("StopTransaction", stop)
    before = await transaction_row(db, tx_id)
    assert await cp.call("StopTransaction", stop) == first
    after = await transaction_row(db, tx_id)
    assert dict(after) == dict(before)
    assert (after["energy_wh"], str(after["cost"])) == (2000, "0.60")
    values = await count(
        db, "SELECT count(*) FROM sessions.meter_values WHERE transaction_id = $1", tx_id
    )
    assert values == 1

    # A different stop for a stopped transaction is kept for review and changes nothing.
    await cp.call("StopTransaction", stop | {"meterStop": 9999})
    assert dict(await transaction_row(db, tx_id)) == dict(before)
    kept = await db.fetch(
        "SELECT kind, meter_stop FROM sessions.unmatched_stops WHERE charge_point_id = $1", cp_id
    )
    assert [(r["kind"], r["meter_stop"]) for r in kept] == [("already_stopped", 9999)]

    # Events leave one outbox in order: a later event here means no second stop event is coming.
    await cp.call(
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": iso(utcnow()), "sampledValue": []}]},
    )
    await tap.wait("meter.values", chargePointId=cp_id)
    assert len(tap.of("transaction.stopped", transactionId=tx_id)) == 1


async def test_redelivered_meter_values_are_stored_once(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus, suite: Any
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    tx_id = await start(cp, tag)
    message = {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [
            {"timestamp": iso(utcnow()), "sampledValue": [register(10), register(20)]},
            {"timestamp": iso(utcnow() + timedelta(seconds=1)), "sampledValue": [register(30)]},
        ],
    }
    port = suite.internal_ports["session-service"]
    copies_before = await metric(port, "csms_session_duplicates_total", action="MeterValues")
    await cp.call("MeterValues", message)
    await cp.call("MeterValues", message)  # the CP re-sends it after a reconnect
    await bus.publish_call(cp_id, "MeterValues", message, reply=False)  # a broker redelivery

    async def copies_recognised() -> bool:
        now = await metric(port, "csms_session_duplicates_total", action="MeterValues")
        return now - copies_before >= 2

    await eventually(copies_recognised)
    stored = await count(
        db, "SELECT count(*) FROM sessions.meter_values WHERE transaction_id = $1", tx_id
    )
    assert stored == 3
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=tx_id)
    assert [v["value"] for v in doc["meterValues"]] == ["10", "20", "30"]


async def test_stop_for_an_unknown_transaction_is_accepted_and_kept_for_review(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    stop = {
        "transactionId": 2_000_000_000,
        "idTag": tag,
        "meterStop": 42,
        "timestamp": iso(utcnow()),
    }
    assert await cp.call("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    assert await cp.call("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    # Without idTag the answer carries no idTagInfo (the -1 some CPs send when Start failed).
    no_tag = {k: v for k, v in stop.items() if k != "idTag"}
    assert await cp.call("StopTransaction", no_tag | {"transactionId": -1}) == {}

    # Another CP's transaction is not stopped by this CP's StopTransaction.
    other = await connect_cp(f"{cp_id}-X", 1)
    theirs = await start(other, tag)
    await cp.call("StopTransaction", stop | {"transactionId": theirs})
    assert (await transaction_row(db, theirs))["stop_time"] is None

    review = await bus.rpc(SessionsRpc.list_unmatched_stops, chargePointId=cp_id)
    kinds = sorted((item["kind"], item["transactionId"]) for item in review["items"])
    assert kinds == [
        ("other_charge_point", theirs),
        ("unknown_transaction", -1),
        ("unknown_transaction", 2_000_000_000),
    ]
    assert review["total"] == 3


async def test_start_on_a_connector_with_an_unstopped_transaction_flags_the_old_one(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag, maxConcurrentTx=1)
    cp = await connect_cp(cp_id)
    t0 = utcnow() - timedelta(hours=2)
    old = await start(cp, tag, meter=100, at=t0)
    # The CP lost the StopTransaction of `old` and starts again on the same connector.
    new = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 900, "timestamp": iso(utcnow())},
    )
    assert new["idTagInfo"]["status"] == "Accepted"  # the old one no longer holds the tag
    row = await transaction_row(db, old)
    assert row["superseded_by"] == new["transactionId"] and row["stop_time"] is None
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=old)
    assert doc["supersededBy"] == new["transactionId"] and doc["active"] is True
    assert [a["action"] for a in doc["audit"]] == ["superseded"]

    # Nothing is lost: the old one can still be stopped when its StopTransaction turns up.
    late = {"transactionId": old, "meterStop": 900, "timestamp": iso(t0 + timedelta(hours=1))}
    await cp.call("StopTransaction", late)
    row = await transaction_row(db, old)
    assert (row["meter_stop"], row["energy_wh"], row["stopped_by"]) == (900, 800, "ChargePoint")
    assert (await transaction_row(db, new["transactionId"]))["superseded_by"] is None


async def test_stale_transaction_is_flagged_and_closed_by_an_operator(
    suite: Any, connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus, tmp_path: Path
) -> None:
    tap = await bus.tap("transaction.stopped")
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    t0 = utcnow() - timedelta(minutes=10)
    tx_id = await start(cp, tag, meter=1000, at=t0)
    reading_at = t0 + timedelta(minutes=5)
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [
                {"timestamp": iso(reading_at), "sampledValue": [register("4.5", "kWh")]}
            ],
        },
    )

    async def register_seen() -> bool:
        row = await transaction_row(db, tx_id)
        return row["last_meter_wh"] is not None

    await eventually(register_seen)
    with pytest.raises(RpcError) as exc:
        await bus.rpc(
            SessionsRpc.close_stale_transaction, transactionId=tx_id, reason="x", operator="ops"
        )
    assert exc.value.code == "invalid"  # not stale yet

    # A replica whose sweep calls a transaction stale after 1.5 s without a sign of life.
    async with extra_session_service(
        suite, tmp_path, SESSION_STALE_AFTER="1.5", SESSION_SWEEP_INTERVAL="0.2"
    ):

        async def flagged() -> bool:
            row = await transaction_row(db, tx_id)
            return row["stale_since"] is not None

        await eventually(flagged)
    stale = await bus.rpc(SessionsRpc.list_transactions, chargePointId=cp_id, stale=True)
    assert tx_id in [t["transactionId"] for t in stale["items"]]

    closed = await bus.rpc(
        SessionsRpc.close_stale_transaction,
        transactionId=tx_id,
        reason="charge point replaced; session ended on site",
        operator="alice@ops",
    )
    assert closed["active"] is False and closed["stoppedBy"] == "operator"
    assert closed["meterStop"] == 4500 and closed["energyWh"] == 3500
    assert closed["stopTime"] == iso(reading_at) and closed["cost"] == 1.05
    audit = [(a["action"], a["actor"]) for a in closed["audit"]]
    assert audit == [("flagged_stale", "session-service"), ("closed_by_operator", "alice@ops")]
    assert closed["audit"][-1]["reason"] == "charge point replaced; session ended on site"
    (event,) = await tap.wait("transaction.stopped", transactionId=tx_id)
    assert event["stoppedBy"] == "operator" and event["closeReason"].startswith("charge point")
    with pytest.raises(RpcError):
        await bus.rpc(
            SessionsRpc.close_stale_transaction, transactionId=tx_id, reason="x", operator="o"
        )

    # The CP's own StopTransaction arriving later is authoritative and replaces the estimate.
    await cp.call(
        "StopTransaction",
        {"transactionId": tx_id, "meterStop": 5000, "timestamp": iso(t0 + timedelta(minutes=9))},
    )
    row = await transaction_row(db, tx_id)
    assert (row["meter_stop"], row["energy_wh"], row["stopped_by"]) == (5000, 4000, "ChargePoint")


class HoldingProxy:
    """A TCP proxy to RabbitMQ whose client-to-broker direction can be held: a service behind it
    receives and commits, but its replies, acks and event publishes never reach the broker."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self._url = target
        self._open = asyncio.Event()
        self._open.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen; the broker URL that goes through the proxy."""
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return urlunsplit(urlsplit(self._url)._replace(netloc=f"guest:guest@127.0.0.1:{port}"))

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        self._tasks += [
            asyncio.create_task(self._pump(reader, up_writer, holdable=True)),
            asyncio.create_task(self._pump(up_reader, writer, holdable=False)),
        ]

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, holdable: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if holdable:
                    await self._open.wait()
                writer.write(data)
                await writer.drain()

    def hold(self) -> None:
        """From now on nothing the service sends reaches the broker."""
        self._open.clear()

    async def close(self) -> None:
        """Drop every connection and what was held: the broker requeues what was unacked."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


async def test_service_killed_between_commit_and_ack_loses_and_duplicates_nothing(
    suite: Any, bus: Bus, db: asyncpg.Connection, cp_id: str, tmp_path: Path
) -> None:
    tap = await bus.tap("transaction.started", "meter.values")
    start_payload = {
        "connectorId": 1,
        "idTag": new_tag(),
        "meterStart": 7,
        "timestamp": iso(utcnow()),
    }
    proxy = HoldingProxy(suite.infra.broker_url)
    broker_url = await proxy.start()
    main = suite.services["session-service"]
    main.stop()  # only the replica behind the proxy consumes while the trap is set
    try:
        async with extra_session_service(suite, tmp_path, SESSION_BROKER_URL=broker_url) as (
            replica,
            _,
        ):
            proxy.hold()
            correlation_id = await bus.publish_call(cp_id, "StartTransaction", start_payload)
            reading = {"timestamp": iso(utcnow()), "sampledValue": [register(7), register(8)]}
            await bus.publish_call(
                cp_id, "MeterValues", {"connectorId": 1, "meterValue": [reading]}, reply=False
            )

            async def both_committed() -> bool:
                sql_tx = "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1"
                sql_mv = "SELECT count(*) FROM sessions.meter_values WHERE charge_point_id = $1"
                return await count(db, sql_tx, cp_id) == 1 and await count(db, sql_mv, cp_id) == 2

            await eventually(both_committed)
            # Committed; the reply and the acks are stuck in the proxy. Crash now.
            replica.kill()
            assert bus.replies.get(correlation_id) is None
            await proxy.close()
    finally:
        suite.restart_service("session-service")

    # The broker redelivers both; the restarted service recognises them as copies.
    async def answered() -> list[dict[str, Any]] | None:
        return bus.replies.get(correlation_id)

    (reply,) = await eventually(answered)
    rows = await db.fetch("SELECT id FROM sessions.transactions WHERE charge_point_id = $1", cp_id)
    assert [r["id"] for r in rows] == [reply["payload"]["transactionId"]]
    port = suite.internal_ports["session-service"]

    async def copies_recognised() -> bool:
        starts = await metric(port, "csms_session_duplicates_total", action="StartTransaction")
        readings = await metric(port, "csms_session_duplicates_total", action="MeterValues")
        return starts == 1 and readings == 1

    await eventually(copies_recognised)
    assert (
        await count(
            db, "SELECT count(*) FROM sessions.meter_values WHERE charge_point_id = $1", cp_id
        )
        == 2
    )
    # The events committed with the change leave once, after the restart.
    await tap.wait("transaction.started", chargePointId=cp_id)
    await tap.wait("meter.values", chargePointId=cp_id)
    assert len(set(tap.message_ids("transaction.started", chargePointId=cp_id))) == 1
    assert len(set(tap.message_ids("meter.values", chargePointId=cp_id))) == 1


async def test_service_killed_under_load_loses_and_duplicates_nothing(
    suite: Any, bus: Bus, db: asyncpg.Connection, cp_id: str
) -> None:
    tap = await bus.tap("transaction.started", "meter.values")
    starts = 400
    at = utcnow()
    payloads = [
        {"connectorId": 1 + n, "idTag": f"KILL-{n}", "meterStart": n, "timestamp": iso(at)}
        for n in range(starts)
    ]
    service = suite.services["session-service"]
    ids: list[str] = []

    async def publish_starts() -> None:
        for payload in payloads:
            ids.append(await bus.publish_call(cp_id, "StartTransaction", payload))

    try:
        # Killed while the calls still stream in, so some are in flight in every stage.
        publishing = asyncio.create_task(publish_starts())

        async def some_committed() -> bool:
            sql = "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1"
            return await count(db, sql, cp_id) > 0

        await eventually(some_committed, interval=0.005)
        service.kill()  # SIGKILL: committed, replied or not, acked or not
        committed_at_kill = await count(
            db, "SELECT count(*) FROM sessions.transactions WHERE charge_point_id = $1", cp_id
        )
        await publishing
    finally:
        suite.restart_service("session-service")

    async def all_answered() -> bool:
        return all(bus.replies.get(i) for i in ids)

    await eventually(all_answered, timeout=60)
    rows = await db.fetch(
        "SELECT id, id_tag FROM sessions.transactions WHERE charge_point_id = $1", cp_id
    )
    assert len(rows) == starts and committed_at_kill < starts
    by_tag = {r["id_tag"]: r["id"] for r in rows}
    for n, correlation_id in enumerate(ids):
        # Answered before the kill, after it, or both: always the one transaction of start n.
        answers = {reply["payload"]["transactionId"] for reply in bus.replies[correlation_id]}
        assert answers == {by_tag[f"KILL-{n}"]}
    started = await tap.wait("transaction.started", starts, chargePointId=cp_id)
    assert {e["transactionId"] for e in started} == set(by_tag.values())
    # An event published twice (killed between publish and outbox delete) keeps its message id.
    message_ids = tap.message_ids("transaction.started", chargePointId=cp_id)
    assert len(set(message_ids)) == starts

    # The same for MeterValues, a stream the gateway has already answered.
    messages = 300
    meter_cp = f"{cp_id}-M"

    async def publish_readings() -> None:
        for n in range(messages):
            reading = {"timestamp": iso(at + timedelta(seconds=n)), "sampledValue": [register(n)]}
            await bus.publish_call(
                meter_cp, "MeterValues", {"connectorId": 1, "meterValue": [reading]}, reply=False
            )

    try:
        publishing = asyncio.create_task(publish_readings())

        async def some_stored() -> bool:
            sql = "SELECT count(*) FROM sessions.meter_values WHERE charge_point_id = $1"
            return await count(db, sql, meter_cp) > 0

        await eventually(some_stored, interval=0.005)
        service.kill()
        stored_at_kill = await count(
            db, "SELECT count(*) FROM sessions.meter_values WHERE charge_point_id = $1", meter_cp
        )
        await publishing
    finally:
        suite.restart_service("session-service")

    async def all_stored() -> bool:
        sql = "SELECT count(*) FROM sessions.meter_value_messages WHERE charge_point_id = $1"
        return await count(db, sql, meter_cp) == messages

    await eventually(all_stored, timeout=60)
    values = await db.fetch(
        "SELECT value FROM sessions.meter_values WHERE charge_point_id = $1", meter_cp
    )
    assert sorted(int(v["value"]) for v in values) == list(range(messages))
    assert stored_at_kill < messages
    await tap.wait("meter.values", messages, chargePointId=meter_cp)


# -- item 8: valid but nonsensical payloads ---------------------------------------------------


async def test_meter_stop_below_meter_start_is_accepted_with_a_warning(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    tx_id = await start(cp, tag, meter=50_000)
    reply = await cp.call(
        "StopTransaction", {"transactionId": tx_id, "meterStop": 1_000, "timestamp": iso(utcnow())}
    )
    assert reply == {}
    row = await transaction_row(db, tx_id)
    assert (row["meter_stop"], row["energy_wh"], str(row["cost"])) == (1_000, 0, "0.00")
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=tx_id)
    assert any("below meterStart" in w for w in doc["warnings"])


async def test_timestamp_far_in_the_future_is_accepted_with_a_warning(
    connect_cp: Any, cp_id: str, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(
        SessionsRpc.create_id_tag, idTag=tag, expiryDate=iso(utcnow() + timedelta(days=30))
    )
    cp = await connect_cp(cp_id)
    future = utcnow().replace(microsecond=0) + timedelta(days=400)
    reply = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": iso(future)},
    )
    # Judged at the central system's clock, not at the CP's (else the tag would be Expired).
    assert reply["idTagInfo"]["status"] == "Accepted"
    doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=reply["transactionId"])
    assert doc["startTime"] == iso(future)
    assert any("ahead of the central system's clock" in w for w in doc["warnings"])


async def test_unknown_connector_is_accepted_with_a_warning(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    for connector in (1, 2):
        await cp.call(
            "StatusNotification",
            {"connectorId": connector, "errorCode": "NoError", "status": "Available"},
        )

    async def connectors_known() -> bool:
        sql = "SELECT count(*) FROM sessions.connectors WHERE charge_point_id = $1"
        return await count(db, sql, cp_id) == 2

    await eventually(connectors_known)
    unknown = await start(cp, tag, connector=7)
    whole_cp = await start(cp, tag, connector=0, meter=1)
    for tx_id, expected in (
        (unknown, "never reported"),
        (whole_cp, "numbered from 1"),
    ):
        doc = await bus.rpc(SessionsRpc.get_transaction, transactionId=tx_id)
        assert any(expected in w for w in doc["warnings"]), doc["warnings"]
    known = await start(cp, tag, connector=2)
    assert (await bus.rpc(SessionsRpc.get_transaction, transactionId=known))["warnings"] == []


async def test_meter_values_that_make_no_sense_are_stored_and_never_requeued(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection, bus: Bus, suite: Any
) -> None:
    tag = new_tag()
    await bus.rpc(SessionsRpc.create_id_tag, idTag=tag)
    cp = await connect_cp(cp_id)
    tx_id = await start(cp, tag)
    port = suite.internal_ports["session-service"]
    requeued_before = await metric(port, "csms_messages_handled_total", outcome="requeued")
    nonsense = [
        # Not a number, for the energy register.
        {"connectorId": 1, "transactionId": tx_id, "meterValue": [
            {"timestamp": iso(utcnow()), "sampledValue": [register("n/a")]}
        ]},
        # A transaction this CP never had; the main meter (connector 0), years ahead.
        {"connectorId": 1, "transactionId": 1_999_999_999, "meterValue": [
            {"timestamp": iso(utcnow()), "sampledValue": [register(5)]}
        ]},
        {"connectorId": 0, "meterValue": [
            {"timestamp": iso(utcnow() + timedelta(days=900)), "sampledValue": [register(6)]}
        ]},
    ]  # fmt: skip
    for message in nonsense:
        assert await cp.call("MeterValues", message) == {}

    async def all_stored() -> list[asyncpg.Record]:
        rows = await db.fetch(
            "SELECT value, transaction_id, connector_id FROM sessions.meter_values"
            " WHERE charge_point_id = $1 ORDER BY value",
            cp_id,
        )
        return rows if len(rows) == 3 else []

    rows = await eventually(all_stored)
    assert [(r["value"], r["transaction_id"]) for r in rows] == [
        ("5", None),
        ("6", None),
        ("n/a", tx_id),
    ]
    assert rows[1]["connector_id"] == 0
    assert (await transaction_row(db, tx_id))["last_meter_wh"] is None
    assert await metric(port, "csms_messages_handled_total", outcome="requeued") == (
        requeued_before
    )


async def test_an_rpc_with_invalid_params_is_answered_with_what_is_wrong(bus: Bus) -> None:
    with pytest.raises(RpcError) as refused:
        await bus.rpc(SessionsRpc.list_transactions, limit=0, isComplete=True)
    assert refused.value.code == "invalid"
    assert "limit: Input should be greater than or equal to 1" in refused.value.message
    assert "isComplete: Extra inputs are not permitted" in refused.value.message
    # The service goes on answering.
    page = await bus.rpc(SessionsRpc.list_transactions, limit=1)
    assert page["limit"] == 1

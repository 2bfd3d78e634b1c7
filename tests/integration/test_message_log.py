"""The OCPP message log: frames and connection events kept per CP, redacted, read over REST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aio_pika import DeliveryMode, ExchangeType, Message, connect
from websockets.exceptions import InvalidStatus

from csms_shared.bus.topology import MESSAGE_LOG
from message_log.partitions import create_sql, partition_name
from tests.integration.conftest import Suite
from tests.integration.support import ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
SECRET = "s3cret-" + uuid.uuid4().hex
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


async def records(api: httpx.AsyncClient, cp_id: str, **query: Any) -> list[dict[str, Any]]:
    """Every record of the CP, oldest first."""
    response = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 1000, **query})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


async def has_message(api: httpx.AsyncClient, cp_id: str, message_id: str) -> bool:
    return bool(await records(api, cp_id, messageId=message_id))


async def send(cp: ChargePointClient, message_id: str, action: str, payload: Any) -> list[Any]:
    return await cp.send_raw(orjson.dumps([2, message_id, action, payload]))


async def test_a_cps_frames_and_events_appear_in_order_with_secrets_redacted(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    await cp.call("Heartbeat", {})
    answer = await cp.send_raw("[2, not json")
    assert answer[0] == 4
    # A broken frame holding the key in clear: kept as text, but not the secret.
    answer = await cp.send_raw(
        f'[3, "x", {{"configurationKey": [{{"key": "AuthorizationKey", "value": "{SECRET}"'
    )
    assert answer[0] == 4

    async def answer_command(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert action == "GetConfiguration"
        listing = [
            {"key": "AuthorizationKey", "readonly": False, "value": SECRET},
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        ]
        return {"configurationKey": listing}

    cp.responder = answer_command
    response = await api.post(f"/charge-points/{cp_id}/commands/GetConfiguration", json={})
    assert response.status_code == 200, response.text
    await cp.close()

    async def closed() -> list[dict[str, Any]]:
        found = await records(api, cp_id)
        return found if found and found[-1]["kind"] == "closed" else []

    found = await eventually(closed)
    seen = [(r["kind"], r["direction"], r["messageTypeId"], r["action"]) for r in found]
    assert seen == [
        ("connected", None, None, None),
        ("frame", "in", 2, "BootNotification"),
        ("frame", "out", 3, "BootNotification"),
        ("frame", "in", 2, "Heartbeat"),
        ("frame", "out", 3, "Heartbeat"),
        ("malformed", "in", None, None),
        ("frame", "out", 4, None),
        ("malformed", "in", None, None),
        ("frame", "out", 4, None),
        ("frame", "out", 2, "GetConfiguration"),
        ("frame", "in", 3, "GetConfiguration"),
        ("closed", None, None, None),
    ]
    connected, closing = found[0], found[-1]
    assert connected["payload"]["subprotocol"] == "ocpp1.6"
    assert connected["payload"]["gateway"] == found[1]["gateway"]
    assert closing["payload"]["code"] == 1000 and closing["payload"]["by"] == "charge point"
    assert found[5]["raw"] == "[2, not json"
    # A CALL and its answer are found from either side by messageId.
    command_id = found[9]["messageId"]
    pair = await records(api, cp_id, messageId=command_id)
    assert [(r["direction"], r["messageTypeId"]) for r in pair] == [("out", 2), ("in", 3)]
    listing = {item["key"]: item["value"] for item in pair[1]["payload"]["configurationKey"]}
    assert listing == {"AuthorizationKey": "<redacted>", "HeartbeatInterval": "300"}
    assert len({r["connectionId"] for r in found}) == 1
    # Nowhere: not over REST, not in the export, not in the table.
    assert SECRET not in str(found)
    export = await api.get(f"/charge-points/{cp_id}/messages/export")
    assert export.status_code == 200
    lines = [orjson.loads(line) for line in export.text.splitlines()]
    assert len(lines) == len(found) and SECRET not in export.text
    stored = await db.fetchval(
        "SELECT count(*) FROM messages.records WHERE payload::text LIKE $1 OR raw LIKE $1",
        f"%{SECRET}%",
    )
    assert stored == 0
    # The system log shows the connection's events and the CALLERRORs sent.
    log = await api.get("/logs", params={"chargePointId": cp_id})
    assert log.status_code == 200, log.text
    messages = [entry["message"] for entry in reversed(log.json()["items"])]
    assert messages[0] == "connected" and messages[-1] == "connection closed"
    assert "CALLERROR FormationViolation sent (unknown action)" in messages


async def test_the_level_override_turns_the_log_off_and_back_on(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    # A second CP on the same gateway is the barrier: the gateway hears level changes in the
    # order they were made, so once it applies B's, it has applied A's before it.
    other = f"{cp_id}-B"
    cp, barrier = await connect_cp(cp_id), await connect_cp(other)
    for client in (cp, barrier):
        await client.call("BootNotification", BOOT)

    async def put(target: str, level: str | None) -> None:
        response = await api.put(f"/charge-points/{target}/message-log", json={"level": level})
        assert response.status_code == 200, response.text
        assert response.json() == {"chargePointId": target, "level": level}

    async def heartbeat_logged(client: ChargePointClient) -> bool:
        # A StatusNotification after it (kept at every level but off) shows when the Heartbeat
        # would be there: a gateway's records are stored in the order it made them.
        tag = uuid.uuid4().hex[:8]
        await send(client, f"hb-{tag}", "Heartbeat", {})
        await send(client, f"sn-{tag}", "StatusNotification", STATUS)
        await eventually(lambda: has_message(api, client.cp_id, f"sn-{tag}"))
        return await has_message(api, client.cp_id, f"hb-{tag}")

    async def heartbeats_skipped(client: ChargePointClient) -> bool:
        return not await heartbeat_logged(client)

    await put(cp_id, "off")
    await put(other, "all-but-heartbeat")
    await eventually(lambda: heartbeats_skipped(barrier))
    await send(cp, "off-hb", "Heartbeat", {})
    await send(cp, "off-sn", "StatusNotification", STATUS)
    await send(barrier, "flush", "StatusNotification", STATUS)
    await eventually(lambda: has_message(api, other, "flush"))
    assert not await has_message(api, cp_id, "off-hb")
    assert not await has_message(api, cp_id, "off-sn")

    await put(cp_id, "all-but-heartbeat")
    await put(other, None)
    await eventually(lambda: heartbeat_logged(barrier))
    assert await heartbeats_skipped(cp)

    await put(cp_id, None)
    await eventually(lambda: heartbeat_logged(cp))
    bad = await api.put(f"/charge-points/{cp_id}/message-log", json={"level": "verbose"})
    assert bad.status_code == 422


async def test_cursor_pages_return_every_record_once(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    for n in range(12):
        await send(cp, f"hb-{n}", "Heartbeat", {})
    # connected + 12 CALLs + 12 answers
    everything = await eventually(lambda: _at_least(records(api, cp_id), 25), timeout=20)
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(f"/charge-points/{cp_id}/messages", params=params)).json()
        paged.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert list(reversed(paged)) == everything
    keys = [(r["messageId"], r["direction"], r["kind"]) for r in paged]
    assert len(keys) == len(set(keys)) == 25
    # As times, not strings: a record at a whole second is written without a fraction.
    times = [datetime.fromisoformat(r["at"].replace("Z", "+00:00")) for r in paged]
    assert times == sorted(times, reverse=True)
    bad = await api.get(f"/charge-points/{cp_id}/messages", params={"cursor": "nonsense!"})
    assert bad.status_code == 422
    outbound = await records(api, cp_id, direction="out", action="Heartbeat")
    assert len(outbound) == 12 and {r["messageTypeId"] for r in outbound} == {3}


async def _at_least(found: Any, count: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await found
    return result if len(result) >= count else []


async def test_a_partition_past_retention_is_dropped_whole(
    db: asyncpg.Connection,
) -> None:
    today = datetime.now(UTC).date()
    old = today - timedelta(days=7 + 3)  # MESSAGE_LOG_RETENTION_DAYS: 7, the default
    await db.execute(create_sql(old))
    at = datetime(old.year, old.month, old.day, 12, tzinfo=UTC)
    await db.execute(
        "INSERT INTO messages.records (at, charge_point_id, kind, size, gateway)"
        " VALUES ($1, 'CP-OLD', 'connected', 0, 'gw')",
        at,
    )

    async def partitions() -> set[str]:
        rows = await db.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'records'"
        )
        return {row["relname"] for row in rows}

    async def dropped() -> bool:
        return partition_name(old) not in await partitions()

    await eventually(dropped)
    kept = await partitions()
    # Today's and the ones ahead stay.
    assert {partition_name(today), partition_name(today + timedelta(days=1))} <= kept


async def test_a_full_buffer_drops_and_counts_and_the_cp_is_answered(
    suite: Suite, api: httpx.AsyncClient, cp_id: str
) -> None:
    gateway, port = suite.extra_gateway(
        "gw-small-log",
        GATEWAY_MESSAGE_LOG_BUFFER="3",
        GATEWAY_MESSAGE_LOG_BUNDLE_WAIT_MS="2000",
    )
    try:
        cp = await ChargePointClient.connect(f"ws://127.0.0.1:{port}", cp_id)
        for _ in range(10):
            assert "currentTime" in await cp.call("Heartbeat", {})
        internal = gateway.env["GATEWAY_INTERNAL_PORT"]
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{internal}/metrics")).text
        dropped = _metric(metrics, 'csms_gateway_message_log_dropped_total{reason="buffer_full"}')
        # connected + 20 frames into a buffer of 3: most are dropped.
        assert dropped >= 15

        async def gap() -> list[dict[str, Any]]:
            # The gap is marked where records go in again: keep sending until it shows.
            await cp.call("Heartbeat", {})
            return [r for r in await records(api, cp_id) if r["kind"] == "gap"]

        found = await eventually(gap, timeout=30, interval=0.5)
        assert found[0]["payload"]["dropped"] >= 15
        await cp.close()
    finally:
        gateway.stop()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics")


async def test_the_gateway_serves_while_the_writer_is_down_and_the_log_catches_up(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    suite.services["message-log"].stop()
    try:
        for n in range(5):
            await send(cp, f"down-{n}", "Heartbeat", {})
    finally:
        suite.restart_service("message-log")
    # The records waited in the writer's queue.
    await eventually(lambda: has_message(api, cp_id, "down-4"))


async def test_the_writer_survives_malformed_bundles_and_records(
    suite: Suite, api: httpx.AsyncClient, cp_id: str
) -> None:
    good = {"cp": cp_id, "at": datetime.now(UTC).timestamp(), "kind": "connected", "size": 0}
    bundles = [
        b"not json",
        b"[1, 2, 3]",
        orjson.dumps({"gateway": "gw", "records": "nope"}),
        orjson.dumps(
            {
                "gateway": "gw",
                "records": [
                    {"cp": cp_id, "at": "yesterday", "kind": "frame"},
                    {"cp": cp_id, "at": 1.0e300, "kind": "frame"},
                    {"cp": "x" * 49, "at": 1.0, "kind": "frame"},
                    {**good, "kind": ["unhashable"]},
                    {**good, "payload": {"text": "nul \u0000 inside"}, "raw": "a\u0000b"},
                    good,
                ],
            }
        ),
    ]
    connection = await connect(suite.infra.broker_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            MESSAGE_LOG.name, ExchangeType.FANOUT, durable=True
        )
        for body in bundles:
            await exchange.publish(
                Message(body, delivery_mode=DeliveryMode.PERSISTENT), routing_key=""
            )
    found = await eventually(lambda: _at_least(records(api, cp_id), 2))
    assert len(found) == 2
    assert found[0]["payload"] == {"text": "nul \ufffd inside"} and found[0]["raw"] == "a\ufffdb"


async def test_a_bundle_delivered_again_is_stored_once(
    suite: Suite, api: httpx.AsyncClient, cp_id: str
) -> None:
    # As after a writer that died between its commit and its ack, or a publisher that sent
    # twice: the same bundle (message id) comes again, and then a new one.
    def bundle(message_id: str) -> dict[str, Any]:
        at = datetime.now(UTC).timestamp()
        return {
            "gateway": "gw",
            "records": [{"cp": cp_id, "at": at, "kind": "frame", "id": message_id, "size": 1}],
        }

    first = orjson.dumps(bundle("first"))
    sent = [("b-1", first), ("b-1", first), ("b-2", orjson.dumps(bundle("second")))]
    connection = await connect(suite.infra.broker_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            MESSAGE_LOG.name, ExchangeType.FANOUT, durable=True
        )
        for bundle_id, body in sent:
            await exchange.publish(
                Message(
                    body, delivery_mode=DeliveryMode.PERSISTENT, message_id=f"{cp_id}-{bundle_id}"
                ),
                routing_key="",
            )
    # The writer takes bundles in order: once the second is stored, the copy was handled.
    found = await eventually(lambda: _at_least(records(api, cp_id), 2))
    assert sorted(r["messageId"] for r in found) == ["first", "second"]


async def test_refused_handshakes_and_takeovers_are_in_the_log(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    # A CP the registry knows (made at its boot): its refusals are logged (made-up ids' are not,
    # test_handshake_refusals.py).
    booted = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    await booted.call("BootNotification", BOOT)
    await booted.close()
    with pytest.raises(InvalidStatus):
        await ChargePointClient.connect(suite.gateway_url(0), cp_id, subprotocols=["ocpp0.9"])
    first = await connect_cp(cp_id, 0)
    await first.call("Heartbeat", {})
    second = await connect_cp(cp_id, 1)
    await second.call("Heartbeat", {})

    def taken_over_close(found: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next(
            (r for r in found if r["kind"] == "closed" and r["payload"]["code"] == 4000), None
        )

    async def taken_over() -> list[dict[str, Any]]:
        found = await records(api, cp_id)
        return found if taken_over_close(found) else []

    found = await eventually(taken_over)
    refused = next(r for r in found if r["kind"] == "refused")
    assert refused["payload"]["status"] == 400 and refused["payload"]["count"] == 1
    assert "ocpp1.6" in refused["payload"]["reason"]
    takeover = next(r for r in found if r["kind"] == "takeover")
    closed = taken_over_close(found)
    assert closed is not None and closed["payload"]["by"] == "gateway"
    assert takeover["connectionId"] == closed["connectionId"]
    assert takeover["payload"]["byGateway"] == second_gateway(found, closed["connectionId"])
    log = await api.get("/logs", params={"chargePointId": cp_id, "level": "WARNING"})
    assert [entry["message"] for entry in log.json()["items"]] == ["handshake refused"]


def second_gateway(found: list[dict[str, Any]], old_connection: str) -> str:
    """The gateway of the connection that took over (the newest other one)."""
    newer = [r for r in found if r["kind"] == "connected" and r["connectionId"] != old_connection]
    return str(max(newer, key=lambda r: r["at"])["gateway"])


async def test_security_events_and_session_warnings_are_in_the_system_log(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = f"T{uuid.uuid4().hex[:10]}"
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await cp.call(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": now, "techInfo": "lid open"},
    )
    started = await cp.call(
        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": now}
    )
    tx = started["transactionId"]
    await cp.call("StopTransaction", {"transactionId": tx, "meterStop": 500, "timestamp": now})

    async def warnings() -> list[str]:
        response = await api.get("/logs", params={"chargePointId": cp_id, "level": "WARNING"})
        assert response.status_code == 200, response.text
        found = [entry["message"] for entry in response.json()["items"]]
        return found if len(found) >= 2 else []

    found = await eventually(warnings)
    assert sorted(found) == [
        f"StopTransaction {tx}: meterStop 500 is below meterStart 1000; energy counted as 0",
        "security event TamperDetectionActivated (reported by the charge point): lid open",
    ]
    # The CP's own records show them too, as kinds of their own with their details.
    kinds = {r["kind"]: r for r in await records(api, cp_id)}
    assert kinds["warning"]["payload"]["transactionId"] == tx
    assert kinds["warning"]["gateway"] == "session-service"
    assert kinds["security"]["payload"]["type"] == "TamperDetectionActivated"

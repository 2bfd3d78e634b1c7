"""Charge points through both gateways, malformed frames, takeover and a gateway crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from tests.integration.support import CallErrorReply, ChargePointClient, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1", "firmwareVersion": "1.0.3"}


async def cp_row(db: asyncpg.Connection, cp_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM registry.charge_points WHERE id = $1", cp_id)


async def clock_past(moment: datetime) -> None:
    """Until the clock is a millisecond past `moment`: a Heartbeat's time (milliseconds, as
    `station.seen` carries it) read from now on is later than `moment`."""

    async def past() -> bool:
        return datetime.now(UTC) - moment >= timedelta(milliseconds=1)

    await eventually(past, interval=0.001)


@pytest.mark.parametrize("gateway", [0, 1])
async def test_boot_through_either_gateway_is_recorded(
    connect_cp: Any, db: asyncpg.Connection, cp_id: str, gateway: int, suite: Any
) -> None:
    cp = await connect_cp(cp_id, gateway)
    reply = await cp.call("BootNotification", BOOT)
    assert reply["status"] == "Accepted"
    assert reply["interval"] == 300
    assert reply["currentTime"].endswith("Z")
    row = await cp_row(db, cp_id)
    assert row is not None
    assert (row["vendor"], row["model"], row["firmware_version"]) == ("ACME", "X1", "1.0.3")
    assert row["registration_status"] == "Accepted"
    gateway_id = suite.gateways[gateway].env["GATEWAY_INSTANCE_ID"]
    await eventually(lambda: _online_on(db, cp_id, gateway_id))


async def _online_on(db: asyncpg.Connection, cp_id: str, gateway_id: str) -> bool:
    row = await cp_row(db, cp_id)
    return bool(row and row["online"] and row["gateway"] == gateway_id)


async def test_heartbeat_answers_utc_time_and_updates_last_seen(
    connect_cp: Any, db: asyncpg.Connection, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", BOOT)
    before = (await cp_row(db, cp_id))["last_seen_at"]
    await clock_past(before)
    reply = await cp.call("Heartbeat", {})
    assert reply["currentTime"].endswith("Z")

    # Answered by the gateway; last seen arrives with its next `station.seen` flush.
    async def advanced() -> bool:
        return (await cp_row(db, cp_id))["last_seen_at"] > before

    await eventually(advanced)


async def test_a_draining_gateway_flushes_last_seen_before_it_stops(
    suite: Any, db: asyncpg.Connection, cp_id: str
) -> None:
    # A flush interval far beyond the test: only the flush on SIGTERM can carry the Heartbeat.
    process, port = suite.extra_gateway("gateway-seen", GATEWAY_SEEN_FLUSH_SECONDS="3600")
    try:
        cp = await ChargePointClient.connect(f"ws://127.0.0.1:{port}", cp_id)
        await cp.call("BootNotification", BOOT)
        before = (await cp_row(db, cp_id))["last_seen_at"]
        await clock_past(before)
        assert (await cp.call("Heartbeat", {}))["currentTime"].endswith("Z")
        assert (await cp_row(db, cp_id))["last_seen_at"] == before
    finally:
        assert await asyncio.to_thread(process.stop) == 0

    async def advanced() -> bool:
        return (await cp_row(db, cp_id))["last_seen_at"] > before

    await eventually(advanced)


async def test_status_notification_per_connector_with_history(
    connect_cp: Any, db: asyncpg.Connection, cp_id: str
) -> None:
    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)
    base = {"errorCode": "NoError"}
    await cp.call("StatusNotification", base | {"connectorId": 0, "status": "Available"})
    await cp.call(
        "StatusNotification",
        base | {"connectorId": 1, "status": "Preparing", "timestamp": "2026-11-22T10:00:00Z"},
    )
    await cp.call(
        "StatusNotification",
        base | {"connectorId": 1, "status": "Charging", "timestamp": "2026-11-22T10:01:00Z"},
    )
    # A late re-send of an older status must not overwrite the newer one.
    await cp.call(
        "StatusNotification",
        base | {"connectorId": 1, "status": "Preparing", "timestamp": "2026-11-22T10:00:00Z"},
    )

    async def connectors() -> list[asyncpg.Record]:
        rows = await db.fetch(
            "SELECT connector_id, status FROM registry.connectors"
            " WHERE charge_point_id = $1 ORDER BY connector_id",
            cp_id,
        )
        return rows if len(rows) == 2 and rows[1]["status"] == "Charging" else []

    rows = await eventually(connectors)
    assert [(r["connector_id"], r["status"]) for r in rows] == [(0, "Available"), (1, "Charging")]
    history = await db.fetch(
        "SELECT status FROM registry.status_history WHERE charge_point_id = $1"
        " AND connector_id = 1 ORDER BY timestamp",
        cp_id,
    )
    assert [r["status"] for r in history] == ["Preparing", "Charging"]


MALFORMED = [
    ("not json", "not json at all", "FormationViolation"),
    ("not an array", '{"a": 1}', "FormationViolation"),
    ("too short", "[2]", "FormationViolation"),
    ("bad message type", '[7, "m1", "Heartbeat", {}]', "ProtocolError"),
    ("payload not object", '[2, "m2", "Heartbeat", []]', "FormationViolation"),
    ("unknown action", '[2, "m3", "Teleport", {}]', "NotImplemented"),
    ("cs-to-cp action", '[2, "m4", "Reset", {"type": "Soft"}]', "NotSupported"),
    (
        "missing field",
        '[2, "m5", "BootNotification", {"chargePointVendor": "A"}]',
        "OccurenceConstraintViolation",
    ),
    (
        "wrong type",
        '[2, "m6", "StatusNotification", {"connectorId": "one", "errorCode": "NoError",'
        ' "status": "Available"}]',
        "TypeConstraintViolation",
    ),
    (
        "bad enum",
        '[2, "m7", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",'
        ' "status": "Sleeping"}]',
        "PropertyConstraintViolation",
    ),
    (
        "too long",
        '[2, "m8", "BootNotification", {"chargePointVendor": "'
        + "V" * 21
        + '", "chargePointModel": "M"}]',
        "PropertyConstraintViolation",
    ),
    ("extra field", '[2, "m9", "Heartbeat", {"extra": 1}]', "FormationViolation"),
]


@pytest.mark.parametrize(("case", "frame", "code"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_frame_gets_its_callerror_and_connection_stays_open(
    connect_cp: Any, cp_id: str, case: str, frame: str, code: str
) -> None:
    cp = await connect_cp(cp_id)
    answer = await cp.send_raw(frame)
    assert answer[0] == 4
    assert answer[2] == code, answer
    # The connection still works afterwards.
    assert (await cp.call("Heartbeat", {}))["currentTime"].endswith("Z")


async def test_callerror_keeps_the_message_id_it_could_read(connect_cp: Any, cp_id: str) -> None:
    cp = await connect_cp(cp_id)
    answer = await cp.send_raw('[2, "abc-123", "Teleport", {}]')
    assert answer[:3] == [4, "abc-123", "NotImplemented"]
    assert isinstance(answer[4], dict)


async def test_handshake_without_an_ocpp_subprotocol_of_ours_is_refused(
    suite: Any, cp_id: str
) -> None:
    with pytest.raises(InvalidStatus) as exc:
        await ChargePointClient.connect(suite.gateway_url(0), cp_id, subprotocols=["ocpp0.9"])
    assert exc.value.response.status_code == 400


async def test_handshake_with_bad_charge_point_id_is_refused(suite: Any) -> None:
    with pytest.raises(InvalidStatus) as exc:
        await ChargePointClient.connect(suite.gateway_url(0), "bad:id")
    assert exc.value.response.status_code == 400


async def test_agreed_subprotocol_is_ocpp16(connect_cp: Any, cp_id: str) -> None:
    cp = await connect_cp(cp_id)
    assert cp.ws.subprotocol == "ocpp1.6"


async def test_oversized_frame_closes_with_1009(connect_cp: Any, cp_id: str) -> None:
    cp = await connect_cp(cp_id)
    huge = orjson.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "x" * 200_000}])
    await cp.ws.send(huge.decode())
    await asyncio.wait_for(cp.ws.wait_closed(), 10)
    assert cp.ws.close_code == 1009


async def test_second_connection_on_the_other_gateway_takes_over(
    connect_cp: Any, db: asyncpg.Connection, cp_id: str, suite: Any
) -> None:
    old = await connect_cp(cp_id, 0)
    await old.call("BootNotification", BOOT)
    new = await connect_cp(cp_id, 1)
    await asyncio.wait_for(old.ws.wait_closed(), 10)
    assert old.ws.close_code == 4000
    assert (await new.call("Heartbeat", {}))["currentTime"]
    gateway_0, gateway_1 = (g.env["GATEWAY_INSTANCE_ID"] for g in suite.gateways)
    await eventually(lambda: _online_on(db, cp_id, gateway_1))
    # The old connection's disconnect must not mark the CP offline after the takeover. Its
    # station.disconnected was confirmed before gateway 0 logged the close ...
    await eventually(lambda: _closed_on(db, cp_id, gateway_0))
    # ... and the registry follows station.disconnected in order: once a later one, a canary's,
    # has taken its CP offline, the old connection's has been applied too.
    canary_id = f"{cp_id}-C"
    canary = await connect_cp(canary_id, 0)
    await eventually(lambda: _online_on(db, canary_id, gateway_0))
    await canary.close()
    await eventually(lambda: _offline(db, canary_id))
    assert await _online_on(db, cp_id, gateway_1)


async def _closed_on(db: asyncpg.Connection, cp_id: str, gateway_id: str) -> bool:
    """Whether the message log holds the close of a connection of the CP on that gateway."""
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM messages.records"
            " WHERE charge_point_id = $1 AND kind = 'closed' AND gateway = $2",
            cp_id,
            gateway_id,
        )
    )


async def _offline(db: asyncpg.Connection, cp_id: str) -> bool:
    row = await cp_row(db, cp_id)
    return row is not None and not row["online"]


async def test_second_connection_on_the_same_gateway_takes_over(
    connect_cp: Any, cp_id: str
) -> None:
    old = await connect_cp(cp_id, 0)
    new = await connect_cp(cp_id, 0)
    await asyncio.wait_for(old.ws.wait_closed(), 10)
    assert old.ws.close_code == 4000
    assert (await new.call("Heartbeat", {}))["currentTime"]


async def test_health_endpoints(suite: Any) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for port in [*suite.gateway_internal_ports, *suite.internal_ports.values()]:
            for path in ("/healthz", "/readyz", "/metrics"):
                response = await http.get(f"http://127.0.0.1:{port}{path}")
                assert response.status_code == 200, (port, path, response.text)
            assert (await http.get(f"http://127.0.0.1:{port}/nope")).status_code == 404


async def test_big_meter_registers_are_accepted_and_big_connector_numbers_refused(
    connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    # A DC charger's Wh register passes 2**31 within years; refusing would make it retry forever.
    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)
    big = 2**40
    start = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "BIG", "meterStart": big, "timestamp": "2026-11-22T10:00:00Z"},
    )
    stop = await cp.call(
        "StopTransaction",
        {
            "transactionId": start["transactionId"],
            "meterStop": big + 1500,
            "timestamp": "2026-11-22T11:00:00Z",
        },
    )
    assert isinstance(stop, dict)

    async def stored() -> bool:
        return bool(
            await db.fetchval(
                "SELECT count(*) FROM sessions.transactions"
                " WHERE id = $1 AND meter_start = $2 AND meter_stop = $3",
                start["transactionId"],
                big,
                big + 1500,
            )
        )

    await eventually(stored)
    # A connector number is 32-bit, as every column and the REST API hold it: no charge point
    # has that many. Refused by name where it arrives, and beyond 64 bits as before.
    for connector in (2**31, big, 2**64 - 1):
        with pytest.raises(CallErrorReply) as exc:
            await cp.call(
                "StatusNotification",
                {"connectorId": connector, "errorCode": "NoError", "status": "Available"},
            )
        assert exc.value.code == "PropertyConstraintViolation"
        assert exc.value.description.startswith("connectorId: ")

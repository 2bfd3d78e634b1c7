"""What a station repeats or floods must not leak a secret or push out the others' records
(security, fourth pass: items 1-4)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.receivers import Receiver
from tests.integration.support import ChargePointClient, eventually, metric

pytestmark = pytest.mark.integration

BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "X1", "vendorName": "ACME"}}
BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
AUTH = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
# The suite's CSMS_SECRET_CONFIGURATION_KEYS names it (conftest.py).
METER = {"component": {"name": "Meter"}, "variable": {"name": "MeterPassword"}}


async def station(suite: Any, cp_id: str, gateway: int = 0) -> ChargePointClient:
    cp = await ChargePointClient.connect(suite.gateway_url(gateway), cp_id, ["ocpp2.0.1"])
    assert (await cp.call("BootNotification", BOOT_201))["status"] == "Accepted"
    return cp


async def viewer(api: httpx.AsyncClient) -> dict[str, str]:
    created = await api.post("/api-keys", json={"name": f"v-{uuid.uuid4().hex}", "role": "viewer"})
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def logged(api: httpx.AsyncClient, cp_id: str, enough: int) -> list[dict[str, Any]]:
    """The CP's message-log records, once there are at least `enough`."""

    async def read() -> list[dict[str, Any]] | None:
        page = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 1000})
        items: list[dict[str, Any]] = page.json()["items"]
        return items if len(items) >= enough else None

    found: list[dict[str, Any]] = await eventually(read, timeout=30)
    return found


@pytest.fixture
async def events(suite: Any) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of every event from now on."""
    connection = await aio_pika.connect(suite.infra.broker_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(await channel.get_exchange("ocpp.events"), "#")
    yield queue
    await connection.close()


async def bodies_of(queue: aio_pika.abc.AbstractQueue, cp_id: str) -> list[bytes]:
    found: list[bytes] = []
    while (message := await queue.get(fail=False)) is not None:
        if cp_id.encode() in message.body:
            found.append(message.body)
    return found


# -- 1. a station echoes its new key in an ordinary answer -----------------------------------


async def test_a_key_the_station_repeats_in_its_answer_is_never_kept_or_shown(
    suite: Any, api: httpx.AsyncClient, cp_id: str, events: Any
) -> None:
    key = "k-" + uuid.uuid4().hex
    async with Receiver([]) as receiver:
        hook = await api.post(
            "/webhooks",
            json={"url": receiver.url, "events": ["command.completed"], "secret": "s" * 32},
        )
        assert hook.status_code == 201, hook.text
        cp = await station(suite, cp_id)

        async def echo(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            assert action == "SetVariables"
            (setting,) = payload["setVariableData"]
            # Schema-valid, and the new key three times over: in the free text, in a vendor's
            # customData, as a customData key.
            return {
                "setVariableResult": [
                    {
                        **AUTH,
                        "attributeStatus": "Accepted",
                        "attributeStatusInfo": {
                            "reasonCode": "Applied",
                            "additionalInfo": f"password now {setting['attributeValue']}",
                        },
                        "customData": {"vendorId": "acme", "was": key, key: [key]},
                    }
                ]
            }

        cp.responder = echo
        rotated = await api.post(
            f"/charge-points/{cp_id}/authorization-key", json={"authorizationKey": key}
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["keyStored"] is True
        assert cp.received_calls[-1][1]["setVariableData"][0]["attributeValue"] == key
        assert key not in rotated.text

        seen_by_viewer = await viewer(api)
        audit = await api.get("/commands", params={"chargePointId": cp_id}, headers=seen_by_viewer)
        assert audit.json()["total"] == 1 and key not in audit.text
        answer = audit.json()["items"][0]["response"]["setVariableResult"][0]
        assert answer["attributeStatusInfo"]["additionalInfo"] == "password now <redacted>"
        records = await logged(api, cp_id, 5)  # connected, boot and answer, command and answer
        assert key not in orjson.dumps(records).decode()
        shown = await api.get(f"/charge-points/{cp_id}/messages", headers=seen_by_viewer)
        assert shown.status_code == 200 and key not in shown.text

        async def completed() -> list[bytes]:
            return [b for b in await bodies_of(events, cp_id) if b"SetVariables" in b]

        assert all(key.encode() not in body for body in await eventually(completed))

        async def delivered() -> bool:
            return any(cp_id.encode() in body for _, body in receiver.requests)

        await eventually(delivered, timeout=30)
        assert all(key.encode() not in body for _, body in receiver.requests)
        await api.delete(f"/webhooks/{hook.json()['id']}")
        await cp.close()
    for process in [*suite.gateways, *suite.services.values()]:
        assert key not in process.log_path.read_text(errors="replace"), process.name


# -- 2. secrets in the station's other messages ---------------------------------------------


async def test_a_secret_variables_value_is_never_kept_from_any_message(
    suite: Any, api: httpx.AsyncClient, cp_id: str, events: Any
) -> None:
    password, meter = "pw-" + uuid.uuid4().hex, "mp-" + uuid.uuid4().hex
    cp = await station(suite, cp_id, gateway=1)
    event = {
        "eventId": 1,
        "timestamp": "2026-11-26T10:00:00Z",
        "trigger": "Delta",
        "eventNotificationType": "HardWiredNotification",
    }
    await cp.call(
        "NotifyEvent",
        {
            "generatedAt": "2026-11-26T10:00:00Z",
            "seqNo": 0,
            "eventData": [
                {**event, **AUTH, "actualValue": password, "techInfo": f"set to {password}"},
                {**event, **METER, "eventId": 2, "actualValue": meter},
            ],
        },
    )
    await cp.call(
        "NotifyMonitoringReport",
        {
            "requestId": 3,
            "seqNo": 0,
            "generatedAt": "2026-11-26T10:00:00Z",
            "monitor": [
                {
                    **AUTH,
                    "variableMonitoring": [
                        {"id": 1, "transaction": False, "value": 1, "type": "Delta",
                         "severity": 5}
                    ],
                    "customData": {"vendorId": "acme", "last": password},
                }
            ],
        },
    )  # fmt: skip
    await cp.call(
        "NotifyReport",
        {
            "requestId": 4,
            "generatedAt": "2026-11-26T10:00:00Z",
            "seqNo": 0,
            "reportData": [
                {**AUTH, "variableAttribute": [{"value": password}]},
                {**METER, "variableAttribute": [{"value": meter}]},
                {
                    "component": {"name": "Meter"},
                    "variable": {"name": "Serial"},
                    "variableAttribute": [{"value": "M-1"}],
                },
            ],
        },
    )

    async def kept() -> httpx.Response | None:
        page = await api.get(f"/charge-points/{cp_id}/station-messages")
        return page if page.json()["total"] >= 2 else None

    station_messages = await eventually(kept)
    assert password not in station_messages.text and meter not in station_messages.text
    assert "<redacted>" in station_messages.text

    async def model() -> dict[str, Any] | None:
        page = await api.get(f"/charge-points/{cp_id}/variables")
        values = {item["variable"]: item.get("value") for item in page.json()["items"]}
        return values if len(values) == 3 else None

    assert await eventually(model) == {
        "BasicAuthPassword": None,
        "MeterPassword": None,
        "Serial": "M-1",
    }
    records = orjson.dumps(await logged(api, cp_id, 9)).decode()
    assert password not in records and meter not in records
    assert all(password.encode() not in b for b in await bodies_of(events, cp_id))

    async def read_back(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "getVariableResult": [
                {**AUTH, "attributeStatus": "Accepted", "attributeValue": password},
                {**METER, "attributeStatus": "Accepted", "attributeValue": meter},
            ]
        }

    cp.responder = read_back
    read = await api.post(
        f"/charge-points/{cp_id}/commands/GetVariables",
        json={"getVariableData": [AUTH, METER]},
    )
    assert read.status_code == 200, read.text
    assert password not in read.text and meter not in read.text
    assert await eventually(model) == {
        "BasicAuthPassword": None,
        "MeterPassword": None,
        "Serial": "M-1",
    }
    await cp.close()
    for process in [*suite.gateways, *suite.services.values()]:
        text = process.log_path.read_text(errors="replace")
        assert password not in text and meter not in text, process.name


# -- 3. answers to nothing, and malformed frames, are not free -------------------------------


async def closed(cp: ChargePointClient) -> int | None:
    """The close code once the gateway closed the connection."""

    async def gone() -> bool:
        return cp.ws.close_code is not None

    await eventually(gone, timeout=30)
    return cp.ws.close_code


@pytest.mark.parametrize("kind", ["unsolicited", "malformed"])
async def test_a_flood_of_answers_to_nothing_or_malformed_frames_is_dropped_and_disconnected(
    suite: Any, api: httpx.AsyncClient, cp_id: str, kind: str
) -> None:
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
    port = suite.gateway_internal_ports[0]
    before = await metric(port, "csms_gateway_unsolicited_answers_total")
    pad = "x" * 2000
    try:
        for n in range(400):
            if kind == "unsolicited":
                frame = orjson.dumps([3, f"nothing-{n}", {"pad": pad}]).decode()
            else:
                frame = f'[2, "m-{n}", "Heartbeat", {{"pad": "{pad}"'  # not JSON
            await cp.ws.send(frame)
    except ConnectionClosed:
        pass
    assert await closed(cp) == 1008

    async def flushed() -> list[dict[str, Any]] | None:
        page = await api.get(f"/charge-points/{cp_id}/messages", params={"limit": 1000})
        items: list[dict[str, Any]] = page.json()["items"]
        return items if any(item["kind"] == "closed" for item in items) else None

    records = await eventually(flushed, timeout=30)
    if kind == "unsolicited":
        answers = [r for r in records if r["kind"] == "frame" and r["messageTypeId"] == 3]
        answers = [r for r in answers if str(r["messageId"]).startswith("nothing-")]
        # One kept as a sample; every one counted.
        assert len(answers) == 1
        after = await metric(port, "csms_gateway_unsolicited_answers_total")
        assert after - before >= 50
    else:
        # Those within the station's budget (a burst of 60, 20 a second) are answered and
        # kept; the rest are strikes, dropped unlogged, until the station is disconnected
        # at the 50th: at most 350 of the 400 are kept, however fast they came.
        malformed = [r for r in records if r["kind"] == "malformed"]
        assert 60 <= len(malformed) <= 350, len(malformed)
    assert await metric(port, "csms_gateway_strikes_total") >= 50


async def test_a_late_answer_to_a_timed_out_command_is_logged_and_no_strike(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    cp = await ChargePointClient.connect(suite.gateway_url(1), cp_id)
    assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"

    async def silent(action: str, payload: dict[str, Any]) -> None:
        return None  # answers nothing in time

    cp.responder = silent
    sent = await api.post(
        f"/charge-points/{cp_id}/commands/GetLocalListVersion", json={}, params={"timeout": 1}
    )
    assert sent.status_code == 504, sent.text
    message_id = next(f[1] for f in cp.frames if f[0] == 2)
    port = suite.gateway_internal_ports[1]
    late = await metric(port, "csms_gateway_late_answers_total")
    strikes = await metric(port, "csms_gateway_strikes_total")
    await cp.ws.send(orjson.dumps([3, message_id, {"listVersion": 3}]).decode())

    async def counted() -> bool:
        return await metric(port, "csms_gateway_late_answers_total") > late

    await eventually(counted)
    assert await metric(port, "csms_gateway_strikes_total") == strikes
    records = await logged(api, cp_id, 5)
    (answer,) = [r for r in records if r["messageId"] == message_id and r["direction"] == "in"]
    assert answer["action"] == "GetLocalListVersion"
    assert (await cp.call("Heartbeat", {}))["currentTime"]
    await cp.close()


# -- 4. the device model grows without bound --------------------------------------------------


async def test_a_station_cannot_store_more_attributes_than_its_cap(
    suite: Any, api: httpx.AsyncClient, cp_id: str
) -> None:
    cap = int(suite.services["station-registry"].env["REGISTRY_DEVICE_MODEL_MAX_ATTRIBUTES"])
    cp = await station(suite, cp_id)
    before = await metric(
        suite.internal_ports["station-registry"], "csms_registry_device_model_refused_total"
    )
    parts, per_part = cap // 100 + 5, 100  # 500 attributes past the cap
    for seq in range(parts):
        data = [
            {
                "component": {"name": f"Invented{seq}"},
                "variable": {"name": f"V{n}"},
                "variableAttribute": [{"value": str(n)}],
            }
            for n in range(per_part)
        ]
        report = {
            "requestId": 9,
            "generatedAt": "2026-11-26T10:00:00Z",
            "seqNo": seq,
            "tbc": seq < parts - 1,
            "reportData": data,
        }
        await cp.call("NotifyReport", report)

    async def refused() -> httpx.Response | None:
        page = await api.get(f"/charge-points/{cp_id}/security-events")
        types = [item["type"] for item in page.json()["items"]]
        return page if "DeviceModelFull" in types else None

    events = await eventually(refused, timeout=30)
    assert len([i for i in events.json()["items"] if i["type"] == "DeviceModelFull"]) == 1

    async def stored() -> int | None:
        page = await api.get(f"/charge-points/{cp_id}/variables", params={"limit": 1})
        total: int = page.json()["total"]
        counted = await metric(
            suite.internal_ports["station-registry"], "csms_registry_device_model_refused_total"
        )
        return total if counted - before >= (parts * per_part - cap) else None

    assert await eventually(stored, timeout=30) == cap
    # A full model still takes new values of what it holds.
    change = {
        "requestId": 10,
        "generatedAt": "2026-11-26T10:01:00Z",
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "Invented0"},
                "variable": {"name": "V1"},
                "variableAttribute": [{"value": "changed"}],
            }
        ],
    }
    await cp.call("NotifyReport", change)

    async def changed() -> bool:
        page = await api.get(
            f"/charge-points/{cp_id}/variables",
            params={"component": "Invented0", "variable": "V1", "limit": 10},
        )
        return [i["value"] for i in page.json()["items"] if i["variable"] == "V1"] == ["changed"]

    await eventually(changed)
    await cp.close()
    # Another station is not held by this one's cap.
    other = await station(suite, cp_id + "-b")
    await other.call(
        "NotifyReport",
        {"requestId": 1, "generatedAt": "2026-11-26T10:00:00Z", "seqNo": 0,
         "reportData": [{"component": {"name": "C"}, "variable": {"name": "V"},
                         "variableAttribute": [{"value": "1"}]}]},
    )  # fmt: skip

    async def other_stored() -> bool:
        page = await api.get(f"/charge-points/{cp_id}-b/variables")
        return page.json()["total"] == 1

    await eventually(other_stored)
    await other.close()

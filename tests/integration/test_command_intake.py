"""Back offices' commands over `ocpp.command-requests`: run as REST commands, answered as
`command.completed` with their requestId, never sent twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aio_pika import Message, connect
from aio_pika.abc import AbstractQueue

from csms_shared.bus.access import user_of
from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}


class BackOffice:
    """A back office on the broker: publishes requests, reads `command.completed`."""

    def __init__(self, broker_url: str) -> None:
        self.url = broker_url
        self.user = user_of(broker_url)
        self.completed: list[dict[str, Any]] = []

    async def __aenter__(self) -> BackOffice:
        self.connection = await connect(self.url)
        self.channel = await self.connection.channel()
        self.events: AbstractQueue = await self.channel.declare_queue(exclusive=True)
        await self.events.bind(await self.channel.get_exchange("ocpp.events"), "command.completed")
        self.requests = await self.channel.get_exchange("ocpp.command-requests")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def send(self, body: dict[str, Any] | bytes, user_id: str | None = "") -> None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        user = self.user if user_id == "" else user_id
        await self.requests.publish(Message(raw, user_id=user), routing_key="")

    async def outcome(self, **match: Any) -> dict[str, Any]:
        """The first `command.completed` whose fields equal `match`."""

        async def find() -> dict[str, Any] | None:
            while (message := await self.events.get(fail=False)) is not None:
                await message.ack()
                self.completed.append(orjson.loads(message.body))
            for event in self.completed:
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            return None

        found: dict[str, Any] = await eventually(find, timeout=30)
        return found


@pytest.fixture
async def back_office(suite: Suite) -> AsyncIterator[BackOffice]:
    async with BackOffice(suite.infra.broker_url) as office:
        yield office


async def _booted(connect_cp: Any, cp_id: str) -> Any:
    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)

    async def answer(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cp.responder = answer
    return cp


async def _metric(suite: Suite, outcome: str) -> float:
    port = suite.internal_ports["command-api"]
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'csms_command_requests_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_queued_command_reaches_the_cp_and_comes_back_with_its_request_id(
    suite: Suite, back_office: BackOffice, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await _booted(connect_cp, cp_id)
    request_id = f"billing-{uuid.uuid4().hex}"
    request = {
        "requestId": request_id,
        "chargePointId": cp_id,
        "action": "Reset",
        "payload": {"type": "Soft"},
        "timeout": 10,
    }
    await back_office.send(request)
    event = await back_office.outcome(requestId=request_id)
    assert event["status"] == "result"
    assert event["response"] == {"status": "Accepted"}
    assert event["requestedBy"] == f"broker:{back_office.user}"
    assert cp.received_calls == [("Reset", {"type": "Soft"})]

    command = (await api.get(f"/commands/{event['commandId']}")).json()
    assert command["requestId"] == request_id
    assert command["requestedBy"] == f"broker:{back_office.user}"
    assert command["status"] == "result"

    # The broker redelivers it (or the back office sends it again): not sent twice.
    duplicates = await _metric(suite, "duplicate")
    await back_office.send(request)

    async def counted() -> bool:
        return await _metric(suite, "duplicate") > duplicates

    await eventually(counted)
    page = (await api.get("/commands", params={"chargePointId": cp_id})).json()
    assert page["total"] == 1
    assert cp.received_calls == [("Reset", {"type": "Soft"})]


async def test_a_queued_reserve_now_the_cp_accepts_becomes_a_reservation(
    back_office: BackOffice, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    await _booted(connect_cp, cp_id)
    request_id = f"booking-{uuid.uuid4().hex}"
    await back_office.send(
        {
            "requestId": request_id,
            "chargePointId": cp_id,
            "action": "ReserveNow",
            "payload": {
                "connectorId": 1,
                "expiryDate": "2099-01-01T00:00:00Z",
                "idTag": "BOOKER",
                "reservationId": 4343,
            },
        }
    )
    event = await back_office.outcome(requestId=request_id)
    assert (event["status"], event["response"]) == ("result", {"status": "Accepted"})

    # As for the same command sent over REST: the reaction records the reservation.
    async def listed() -> list[dict[str, Any]]:
        page = await api.get("/reservations", params={"chargePointId": cp_id})
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    [reservation] = await eventually(listed)
    assert (reservation["reservationId"], reservation["idTag"]) == (4343, "BOOKER")
    assert reservation["connectorId"] == 1


async def test_an_offline_or_unknown_cp_gets_a_completed_with_the_reason(
    back_office: BackOffice, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await _booted(connect_cp, cp_id)
    await cp.close()
    unknown = f"NEVER-{uuid.uuid4().hex[:8]}"
    await back_office.send(
        {"requestId": "r-unknown", "chargePointId": unknown, "action": "Reset",
         "payload": {"type": "Hard"}}
    )  # fmt: skip
    event = await back_office.outcome(requestId="r-unknown", chargePointId=unknown)
    assert event["status"] == "unknown_charge_point"
    assert "never seen" in event["reason"]

    async def offline() -> bool:
        return (await api.get(f"/charge-points/{cp_id}")).json()["online"] is False

    await eventually(offline)
    request_id = f"r-{uuid.uuid4().hex}"
    await back_office.send(
        {"requestId": request_id, "chargePointId": cp_id, "action": "Reset",
         "payload": {"type": "Hard"}}
    )  # fmt: skip
    event = await back_office.outcome(requestId=request_id)
    assert event["status"] == "offline"
    assert "not connected" in event["reason"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        ({"requestId": "r-1", "chargePointId": "CP-1", "action": "Reboot"}, "unknown action"),
        ({"requestId": "r-2", "chargePointId": "CP-1", "action": "Reset", "payload": {}}, "type"),
        ({"requestId": "r-3", "chargePointId": "CP 1", "action": "Reset"}, "chargePointId"),
        ({"chargePointId": "CP-1", "action": "Reset"}, "requestId"),
        ({"requestId": "r-4", "chargePointId": "CP-1", "action": "Reset", "extra": 1}, "extra"),
    ],
)
async def test_a_bad_request_is_refused_with_a_reason(
    back_office: BackOffice, body: dict[str, Any] | bytes, reason: str
) -> None:
    marker = uuid.uuid4().hex
    if isinstance(body, dict):
        body = body | ({"requestId": body["requestId"] + marker} if "requestId" in body else {})
    await back_office.send(body)
    match = (
        {"requestId": body["requestId"]} if isinstance(body, dict) and "requestId" in body else {}
    )

    async def refused() -> dict[str, Any] | None:
        event = await back_office.outcome(status="refused", **match)
        return event if reason in event["reason"] else None

    event = await eventually(refused, timeout=30)
    assert event["event"] == "command.completed"


async def test_a_request_without_a_verified_user_is_refused(back_office: BackOffice) -> None:
    request_id = f"anon-{uuid.uuid4().hex}"
    await back_office.send(
        {"requestId": request_id, "chargePointId": "CP-1", "action": "Reset",
         "payload": {"type": "Soft"}},
        user_id=None,
    )  # fmt: skip
    event = await back_office.outcome(requestId=request_id)
    assert event["status"] == "refused"
    assert "user_id" in event["reason"]

"""Id tokens of up to 36 characters, with their type, everywhere: the authorization list, a
2.0.1 station's transaction (REST and events), local lists (a 1.6 CP gets only those it can
hold), and a 1.6 transaction's type (issue 43)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import orjson
import pytest

from csms_shared.ocpp._base import utcnow
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_v201_transactions import tx_event

pytestmark = pytest.mark.integration


def emaid() -> str:
    """A contract id of 36 characters (2.0.1 idToken's most; 1.6 idTags hold 20)."""
    token = f"NL-TNM-C{uuid.uuid4().hex}"[:36]
    assert len(token) == 36
    return token


@pytest.fixture
async def started_events(suite: Any) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(suite.infra.broker_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(await channel.get_exchange("ocpp.events"), "transaction.started")
    yield queue
    await connection.close()


async def test_a_36_character_token_charges_on_a_201_station_and_comes_out_unchanged(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, started_events: Any
) -> None:
    token = emaid()
    created = await api.post("/id-tags", json={"idTag": token, "type": "eMAID"})
    assert created.status_code == 201, created.text
    assert (await api.get(f"/id-tags/{token}")).json()["type"] == "eMAID"
    cp: ChargePointClient = await connect_cp(cp_id, subprotocols=["ocpp2.0.1"])
    id_token = {"idToken": token, "type": "eMAID"}
    assert (await cp.call("Authorize", {"idToken": id_token}))["idTokenInfo"]["status"] == (
        "Accepted"
    )
    started = tx_event(
        "Started", 0, utcnow(), "TX-36", 1000, idToken=id_token, evse={"id": 1, "connectorId": 1}
    )
    answer = await cp.call("TransactionEvent", started)
    assert answer["idTokenInfo"]["status"] == "Accepted"

    async def listed() -> dict[str, Any] | None:
        page = await api.get("/transactions", params={"idTag": token})
        items: list[dict[str, Any]] = page.json()["items"]
        return items[0] if items else None

    transaction = await eventually(listed)
    assert (transaction["idTag"], transaction["idTokenType"]) == (token, "eMAID")

    async def event() -> dict[str, Any] | None:
        while (message := await started_events.get(fail=False)) is not None:
            body = orjson.loads(message.body)
            if body["chargePointId"] == cp_id:
                return dict(body)
        return None

    body = await eventually(event)
    assert (body["idTag"], body["idTokenType"]) == (token, "eMAID")


async def test_a_16_transaction_says_its_token_is_a_card(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp: ChargePointClient = await connect_cp(cp_id)
    tag = f"T{uuid.uuid4().hex[:19]}"  # 20 characters, 1.6's most
    assert (await api.post("/id-tags", json={"idTag": tag})).status_code == 201
    start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": utcnow().isoformat()}
    started = await cp.call("StartTransaction", start)
    shown = await api.get(f"/transactions/{started['transactionId']}")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["idTag"], shown.json()["idTokenType"]) == (tag, "ISO14443")


async def test_a_local_list_holds_what_each_version_can(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    group = f"G-{uuid.uuid4().hex[:8]}"
    long, short = emaid(), f"S-{uuid.uuid4().hex[:8]}"
    for body in (
        {"idTag": group},
        {"idTag": long, "type": "eMAID", "parentIdTag": group},
        {"idTag": short, "parentIdTag": group},
    ):
        assert (await api.post("/id-tags", json=body)).status_code == 201
    for version in ("1.6", "2.0.1"):
        station = f"{cp_id}-{version}"
        subprotocols = ["ocpp2.0.1"] if version == "2.0.1" else ["ocpp1.6"]
        cp: ChargePointClient = await connect_cp(station, subprotocols=subprotocols)

        async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return {"status": "Accepted"}

        cp.responder = accept
        if version == "2.0.1":
            boot = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}
        else:
            boot = {"chargePointVendor": "V", "chargePointModel": "X"}
        assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
        synced = await api.post(
            f"/charge-points/{station}/local-list/sync",
            json={"parentIdTags": [group], "updateType": "Full"},
        )
        assert synced.status_code == 200, synced.text
        result = synced.json()
        (sent,) = [p for a, p in cp.received_calls if a == "SendLocalList"]
        if version == "1.6":
            assert (result["size"], result["leftOut"]) == (1, 1)
            assert [e["idTag"] for e in sent["localAuthorizationList"]] == [short]
        else:
            assert (result["size"], result["leftOut"]) == (2, 0)
            tokens = {
                e["idToken"]["idToken"]: e["idToken"]["type"]
                for e in sent["localAuthorizationList"]
            }
            assert tokens == {long: "eMAID", short: "ISO14443"}

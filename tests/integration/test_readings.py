"""Readings in our terms: a 2.0.1 station's Energy.Active.Net and its signed meter values, and a
1.6 CP's signed data, go in over OCPP and come out over REST and in `meter.values` unchanged
(issue 43)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from csms_shared.ocpp._base import utcnow
from tests.integration.support import ChargePointClient, event_queue, eventually, next_event
from tests.integration.test_sessions_charging import iso
from tests.integration.test_v201_transactions import tx_event

pytestmark = pytest.mark.integration

SIGNED = {
    "signedMeterData": 'OCMF|{"FV":"1.0","RD":[{"RV":1.234,"RU":"kWh"}]}|{"SD":"30450221"}',
    "signingMethod": "ECDSA-secp256r1-SHA256",
    "encodingMethod": "OCMF",
    "publicKey": "3059301306072A8648CE3D020106082A8648CE3D03010703420004",
}


@pytest.fixture
async def meter_events(suite: Any) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    async with event_queue(suite.infra.broker_url, "meter.values") as queue:
        yield queue


async def detail(api: httpx.AsyncClient, cp_id: str) -> dict[str, Any]:
    async def one() -> int | None:
        page = await api.get("/transactions", params={"chargePointId": cp_id})
        items = page.json()["items"]
        return int(items[0]["transactionId"]) if items else None

    transaction_id = await eventually(one)
    shown = await api.get(f"/transactions/{transaction_id}")
    assert shown.status_code == 200, shown.text
    return dict(shown.json())


async def test_a_201_net_reading_and_signed_meter_value_come_out_unchanged(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, meter_events: Any
) -> None:
    cp: ChargePointClient = await connect_cp(cp_id, subprotocols=["ocpp2.0.1"])
    at = utcnow()
    started = tx_event("Started", 0, at, "TX-R", evse={"id": 1, "connectorId": 1})
    started["meterValue"] = [
        {
            "timestamp": iso(at),
            "sampledValue": [
                {
                    "value": 1234,
                    "context": "Transaction.Begin",
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh"},
                    "signedMeterValue": SIGNED,
                },
                {
                    "value": -2.5,
                    "context": "Transaction.Begin",
                    "measurand": "Energy.Active.Net",
                    "unitOfMeasure": {"unit": "kWh"},
                },
            ],
        }
    ]
    await cp.call("TransactionEvent", started)
    event = await next_event(meter_events, cp_id)
    register, net = event["readings"]
    assert (register["value"], register["signed"]) == (1234, SIGNED)
    assert (net["measurand"], net["value"], net["unit"]) == ("Energy.Active.Net", -2.5, "kWh")
    assert event["evseId"] == 1
    shown = await detail(api, cp_id)
    values = {v.get("measurand"): v for v in shown["meterValues"]}
    assert values["Energy.Active.Import.Register"]["signed"] == SIGNED
    assert values["Energy.Active.Net"]["value"] == "-2.5"


async def test_a_16_signed_sample_is_kept_with_its_transaction(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, meter_events: Any
) -> None:
    cp: ChargePointClient = await connect_cp(cp_id)
    tag = "SIGNED-1"
    await api.post("/id-tags", json={"idTag": tag})
    start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": iso(utcnow())}
    transaction_id = (await cp.call("StartTransaction", start))["transactionId"]
    blob = "AAECAwQFBgcICQ=="
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": iso(utcnow()),
                    "sampledValue": [
                        {"value": "150", "unit": "Wh"},
                        {"value": blob, "format": "SignedData", "context": "Sample.Clock"},
                    ],
                }
            ],
        },
    )
    event = await next_event(meter_events, cp_id)
    plain, signed = event["readings"]
    assert plain["value"] == 150 and "signed" not in plain
    assert "value" not in signed and signed["signed"] == {"signedMeterData": blob}
    shown = await api.get(f"/transactions/{transaction_id}")
    kept = [v for v in shown.json()["meterValues"] if v.get("format") == "SignedData"]
    assert [v["signed"] for v in kept] == [{"signedMeterData": blob}]

"""Parking time end to end: a tariff with a parking fee prices a roaming driver's sessions at a
1.6 station (its charging states from StatusNotification) and a 2.0.1 station (from its
TransactionEvents' chargingState, one of them late); the REST transactions show the parking time
and the cost the one engine computed, the 2.0.1 station is told that total, and the eMSP gets the
Tariff with PARKING_TIME and CDRs with total_parking_time and a PARKING_TIME period."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from csms_shared.ocpp._base import utcnow
from tests.integration.conftest import Suite
from tests.integration.ocpi_platform import PlatformDouble
from tests.integration.support import ChargePointClient, eventually
from tests.integration.test_sessions_charging import iso
from tests.integration.test_v201_transactions import tx_event

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "X", "vendorName": "V"}}


def _evse(cp: str) -> dict[str, Any]:
    return {
        "chargePointId": cp,
        "evseId": 1,
        "connectors": [
            {
                "connectorId": 1,
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "powerType": "AC_3_PHASE",
                "maxVoltage": 230,
                "maxAmperage": 32,
            }
        ],
    }


async def _stopped(api: httpx.AsyncClient, transaction_id: int) -> dict[str, Any]:
    async def read() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await api.get(f"/transactions/{transaction_id}")).json()
        return doc if doc.get("active") is False else None

    stopped: dict[str, Any] = await eventually(read)
    return stopped


async def _states_kept(suite: Suite, transaction_id: int, count: int) -> None:
    """Wait until the session-service keeps `count` charging states of the transaction (a 1.6
    station's come through the station-registry's `connector.status`)."""
    conn = await asyncpg.connect(suite.infra.asyncpg_dsn)
    try:

        async def kept() -> bool:
            found = await conn.fetchval(
                "SELECT count(*) FROM sessions.charging_states WHERE transaction_id = $1",
                transaction_id,
            )
            return bool(found == count)

        assert await eventually(kept)
    finally:
        await conn.close()


async def _status(cp: ChargePointClient, status: str, at: Any) -> None:
    notification = {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": status,
        "timestamp": iso(at),
    }
    assert await cp.call("StatusNotification", notification) == {}


async def test_parking_time_is_billed_at_both_versions_and_told_to_the_emsp(
    api: httpx.AsyncClient, suite: Suite, connect_cp: Any, cp_id: str
) -> None:
    invitation = (await api.post("/roaming/platforms/invitations", json={"name": "PRK"})).json()
    uid = f"PK{cp_id[-8:].upper()}"
    v201_id = f"{cp_id}-2"
    t0 = utcnow().replace(microsecond=0) - timedelta(hours=2)
    async with PlatformDouble.served() as emsp, emsp.client() as client:
        ours = await emsp.register_invited(client, suite.roaming_url, invitation["token"])
        await emsp.push(client, suite.roaming_url, ours, uid)
        site = {
            "address": "Kaiserkai 1",
            "city": "Hamburg",
            "country": "DEU",
            "coordinates": {"latitude": 53.5413, "longitude": 9.9847},
            "timeZone": "Europe/Berlin",
            "evses": [_evse(cp_id), _evse(v201_id)],
        }
        put = await api.put(f"/roaming/locations/PRK-{cp_id[3:]}", json=site)
        assert put.status_code == 200, put.text
        body = {
            "name": f"parking-{uuid.uuid4().hex[:10]}",
            "pricePerKwh": 0.3,
            "sessionFee": 1,
            "perMinuteFee": 0.05,
            "parkingPerMinuteFee": 0.1,
            "currency": "EUR",
            "vat": 19,
            "chargePointIds": [cp_id, v201_id],
        }
        created = await api.post("/tariffs", json=body)
        assert created.status_code == 201, created.text
        tariff = created.json()
        assert tariff["parkingPerMinuteFee"] == 0.1
        ocpi_id = f"T{tariff['tariffId']}"

        def received(method: str, path: str) -> list[dict[str, Any]]:
            return [b for m, p, b, _ in emsp.received if (m, p) == (method, path)]

        async def tariff_there() -> bool:
            return bool(received("PUT", f"/tariffs/DE/CSM/{ocpi_id}"))

        assert await eventually(tariff_there)
        (published,) = received("PUT", f"/tariffs/DE/CSM/{ocpi_id}")
        components = published["elements"][0]["price_components"]
        # A parked minute costs the fee per minute and the parking fee: (0.05 + 0.10) x 60.
        assert [(c["type"], c["price"], c["vat"]) for c in components] == [
            ("FLAT", 1, 19),
            ("ENERGY", 0.3, 19),
            ("TIME", 3, 19),
            ("PARKING_TIME", 9, 19),
        ]

        # 1.6: charging from 1 minute in, the car full at 40, stopped at 60: 20 minutes parked.
        v16 = await connect_cp(cp_id, 0)
        assert (await v16.call("BootNotification", BOOT))["status"] == "Accepted"

        async def accepted() -> bool:
            answer = await v16.call("Authorize", {"idTag": uid})
            return bool(answer["idTagInfo"]["status"] == "Accepted")

        assert await eventually(accepted)
        start = {"connectorId": 1, "idTag": uid, "meterStart": 1000, "timestamp": iso(t0)}
        started = await v16.call("StartTransaction", start)
        assert started["idTagInfo"]["status"] == "Accepted", started
        tx16_id = int(started["transactionId"])
        await _status(v16, "Charging", t0 + timedelta(minutes=1))
        await _status(v16, "SuspendedEV", t0 + timedelta(minutes=40))
        await _states_kept(suite, tx16_id, 2)
        stop = {
            "transactionId": tx16_id,
            "meterStop": 11000,
            "timestamp": iso(t0 + timedelta(minutes=60)),
        }
        assert await v16.call("StopTransaction", stop) == {}

        # 2.0.1: charging, a pause of the site's (20-30, not parking; its event comes late),
        # charging, the car full at 40, ended at 60 with the car still in: 20 minutes parked.
        v201 = await connect_cp(v201_id, 1, subprotocols=["ocpp2.0.1"])
        assert (await v201.call("BootNotification", BOOT_201))["status"] == "Accepted"
        token = {"idToken": uid, "type": "ISO14443"}

        def event(kind: str, seq: int, minutes: int, state: str, wh: int, **extra: Any) -> Any:
            at = t0 + timedelta(minutes=minutes)
            info = {"chargingState": state}
            return tx_event(kind, seq, at, "PRK-TX", wh, info=info, **extra)

        first = event(
            "Started", 0, 0, "Charging", 500, evse={"id": 1, "connectorId": 1}, idToken=token
        )
        assert (await v201.call("TransactionEvent", first))["idTokenInfo"]["status"] == "Accepted"
        assert await v201.call("TransactionEvent", event("Updated", 2, 30, "Charging", 2000)) == {}
        late = event("Updated", 1, 20, "SuspendedEVSE", 1500)
        assert await v201.call("TransactionEvent", late) == {}
        full = event("Updated", 3, 40, "SuspendedEV", 5500)
        assert await v201.call("TransactionEvent", full) == {}
        last = event("Ended", 4, 60, "EVConnected", 5500, context="Transaction.End")
        told = await v201.call("TransactionEvent", last)
        (tx201,) = (await api.get("/transactions", params={"chargePointId": v201_id})).json()[
            "items"
        ]
        ids = {str(tx16_id), str(tx201["transactionId"])}

        async def billed() -> bool:
            return ids <= {c["id"] for c in received("POST", "/cdrs")}

        assert await eventually(billed)
        cdrs = {c["id"]: c for c in received("POST", "/cdrs")}

    # 1.6: 1 + 10 kWh x 0.30 + 60 min x 0.05 + 20 min x 0.10 = 9.00 net, 10.71 with 19 % VAT.
    tx16 = await _stopped(api, tx16_id)
    assert (tx16["parkingSeconds"], tx16["parkingPerMinuteFee"]) == (1200, 0.1)
    assert (tx16["costExclVat"], tx16["costInclVat"], tx16["cost"]) == (9, 10.71, 10.71)
    # 2.0.1: 1 + 5 kWh x 0.30 + 60 min x 0.05 + 20 min x 0.10 = 7.50 net, 8.93 with 19 %
    # (8.925 rounds half up); the station is told what the driver pays.
    tx201 = await _stopped(api, int(tx201["transactionId"]))
    assert tx201["parkingSeconds"] == 1200
    assert (tx201["costExclVat"], tx201["costInclVat"], told["totalCost"]) == (7.5, 8.93, 8.93)
    for tx in (tx16, tx201):
        cdr = cdrs[str(tx["transactionId"])]
        assert (cdr["total_time"], cdr["total_parking_time"]) == (1, 0.3333)
        # The session-service's figures, not recomputed by the roaming service.
        assert cdr["total_cost"] == {"excl_vat": tx["costExclVat"], "incl_vat": tx["costInclVat"]}
        dimensions = {d["type"]: d["volume"] for d in cdr["charging_periods"][-1]["dimensions"]}
        assert (dimensions["TIME"], dimensions["PARKING_TIME"]) == (0.6667, 0.3333)
        (priced_by,) = cdr["tariffs"]
        parking = [
            c for c in priced_by["elements"][0]["price_components"] if c["type"] == "PARKING_TIME"
        ]
        assert parking == [{"type": "PARKING_TIME", "price": 9, "vat": 19, "step_size": 1}]

"""A 2.0.1 station built on another implementation (the `ocpp` library's v201, which checks
every message it sends and receives against the 2.0.1 schemas) lives through both gateways:
boot, status, heartbeat, authorize, a whole transaction billed by the default tariff."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

from csms_shared.ocpp._base import format_datetime, utcnow
from tests.integration.support import eventually

pytestmark = pytest.mark.integration


class Station(ChargePoint):  # type: ignore[misc]
    """The library's station: it validates each request it gets and each answer it gives."""

    @on("GetBaseReport")  # type: ignore[untyped-decorator]
    async def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return call_result.GetBaseReport(status="Accepted")


def meter(wh: int, context: str, at: str) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": at,
            "sampled_value": [
                {
                    "value": wh,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "Wh"},
                }
            ],
        }
    ]


@pytest.mark.parametrize("gateway", [0, 1])
async def test_an_ocpp_library_2_0_1_station_boots_charges_and_is_billed(
    suite: Any, api: httpx.AsyncClient, cp_id: str, gateway: int
) -> None:
    tag = f"LIB201-{cp_id[-8:]}"
    created = await api.post("/id-tags", json={"idTag": tag})
    assert created.status_code == 201, created.text
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=20)
    at = [format_datetime(t0 + timedelta(minutes=m)) for m in (0, 10, 20)]
    async with connect(
        f"{suite.gateway_url(gateway)}/ocpp/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        station = Station(cp_id, ws)
        reader = asyncio.create_task(station.start())
        try:
            boot = await station.call(
                call.BootNotification(
                    charging_station={"model": "LibModel", "vendor_name": "LibVendor"},
                    reason="PowerUp",
                )
            )
            assert boot.status == "Accepted" and boot.interval > 0
            await station.call(
                call.StatusNotification(
                    timestamp=at[0], connector_status="Available", evse_id=1, connector_id=1
                )
            )
            assert (await station.call(call.Heartbeat())).current_time.endswith("Z")
            token = {"id_token": tag, "type": "ISO14443"}
            authorized = await station.call(call.Authorize(id_token=token))
            assert authorized.id_token_info["status"] == "Accepted"
            tx = {"transaction_id": f"LIB-{gateway}-TX"}
            started = await station.call(
                call.TransactionEvent(
                    event_type="Started",
                    timestamp=at[0],
                    trigger_reason="Authorized",
                    seq_no=0,
                    transaction_info={**tx, "charging_state": "Charging"},
                    evse={"id": 1, "connector_id": 1},
                    id_token=token,
                    meter_value=meter(2000, "Transaction.Begin", at[0]),
                )
            )
            assert started.id_token_info["status"] == "Accepted"
            await station.call(
                call.TransactionEvent(
                    event_type="Updated",
                    timestamp=at[1],
                    trigger_reason="MeterValuePeriodic",
                    seq_no=1,
                    transaction_info=tx,
                    meter_value=meter(6000, "Sample.Periodic", at[1]),
                )
            )
            ended = await station.call(
                call.TransactionEvent(
                    event_type="Ended",
                    timestamp=at[2],
                    trigger_reason="StopAuthorized",
                    seq_no=2,
                    transaction_info={**tx, "stopped_reason": "Local"},
                    id_token=token,
                    meter_value=meter(12000, "Transaction.End", at[2]),
                )
            )
            # The suite's default tariff: 0.30 per kWh.
            assert ended.total_cost == pytest.approx(3.0)
        finally:
            reader.cancel()

    async def shown() -> dict[str, Any] | None:
        found = (await api.get("/transactions", params={"chargePointId": cp_id})).json()
        items: list[dict[str, Any]] = found["items"]
        return items[0] if items and items[0].get("stopTime") else None

    transaction = await eventually(shown)
    assert transaction["ocppVersion"] == "2.0.1"
    assert transaction["stationTransactionId"] == f"LIB-{gateway}-TX"
    assert (transaction["energyWh"], transaction["idTag"]) == (10000, tag)
    cp = (await api.get(f"/charge-points/{cp_id}")).json()
    assert (cp["ocppVersion"], cp["chargePointVendor"], cp["chargePointModel"]) == (
        "2.0.1",
        "LibVendor",
        "LibModel",
    )

"""Connector status in our terms (issue 43): a 2.0.1 station's Occupied comes out over REST and
in `connector.status` unchanged, per connector of its EVSE, with the charging state its
transaction tells; a 1.6 station's Preparing comes out as Occupied with its charging state."""

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


@pytest.fixture
async def status_events(suite: Any) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    async with event_queue(suite.infra.broker_url, "connector.status") as queue:
        yield queue


async def evses_once(api: httpx.AsyncClient, cp_id: str, want: list[dict[str, Any]]) -> None:
    """Wait until the charge point's `evses` say `want` (each connector's fields compared:
    connectorId, status, chargingState when shown, errorCode)."""

    async def shown() -> bool:
        answer = await api.get(f"/charge-points/{cp_id}")
        assert answer.status_code == 200, answer.text
        evses = [
            {
                "evseId": evse["evseId"],
                "status": evse["status"],
                "connectors": [
                    {
                        k: c[k]
                        for k in ("connectorId", "status", "chargingState", "errorCode")
                        if k in c
                    }
                    for c in evse["connectors"]
                ],
            }
            for evse in answer.json()["evses"]
        ]
        return evses == want

    await eventually(shown)


async def test_a_16_preparing_comes_out_as_occupied_with_its_charging_state(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, status_events: Any
) -> None:
    cp: ChargePointClient = await connect_cp(cp_id)

    async def status(connector: int, value: str) -> None:
        at = iso(utcnow())
        notification = {"connectorId": connector, "status": value, "errorCode": "NoError"}
        await cp.call("StatusNotification", {**notification, "timestamp": at})

    await status(1, "Preparing")
    event = await next_event(status_events, cp_id)
    assert (event["evseId"], event["evseConnectorId"]) == (1, 1)
    assert (event["connectorStatus"], event["chargingState"]) == ("Occupied", "EVConnected")
    assert (event["connectorErrorCode"], event["status"], event["connectorId"]) == (
        "NoError",
        "Preparing",
        1,
    )
    occupied = {"connectorId": 1, "status": "Occupied", "errorCode": "NoError"}
    await evses_once(
        api,
        cp_id,
        [
            {
                "evseId": 1,
                "status": "Occupied",
                "connectors": [occupied | {"chargingState": "EVConnected"}],
            }
        ],
    )
    await status(1, "SuspendedEV")
    assert (await next_event(status_events, cp_id))["chargingState"] == "SuspendedEV"
    await evses_once(
        api,
        cp_id,
        [
            {
                "evseId": 1,
                "status": "Occupied",
                "connectors": [occupied | {"chargingState": "SuspendedEV"}],
            }
        ],
    )
    # A free connector has no charging state; the station itself (0) is no EVSE.
    await status(1, "Available")
    await status(0, "Available")
    free = await next_event(status_events, cp_id)
    assert free["connectorStatus"] == "Available" and free.get("chargingState") is None
    available = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    await evses_once(api, cp_id, [{"evseId": 1, "status": "Available", "connectors": [available]}])


async def test_a_201_occupied_comes_out_unchanged_per_connector_with_its_charging_state(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, status_events: Any
) -> None:
    cp: ChargePointClient = await connect_cp(cp_id, subprotocols=["ocpp2.0.1"])

    async def status(evse: int, connector: int, value: str) -> None:
        await cp.call(
            "StatusNotification",
            {
                "timestamp": iso(utcnow()),
                "connectorStatus": value,
                "evseId": evse,
                "connectorId": connector,
            },
        )

    await status(1, 1, "Available")
    await status(1, 2, "Occupied")
    first = await next_event(status_events, cp_id)
    occupied = await next_event(status_events, cp_id)
    assert first["connectorStatus"] == "Available"
    assert (occupied["evseId"], occupied["evseConnectorId"]) == (1, 2)
    assert (occupied["connectorStatus"], occupied.get("chargingState")) == ("Occupied", None)
    assert occupied["status"] == "Preparing"  # the 1.6-shaped field, kept for one release
    # Each connector keeps its own status; the EVSE's is derived (one in use: in use).
    available = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    plugged = {"connectorId": 2, "status": "Occupied", "errorCode": "NoError"}
    await evses_once(
        api, cp_id, [{"evseId": 1, "status": "Occupied", "connectors": [available, plugged]}]
    )
    # The transaction on connector 2 tells what the car is doing; the connector shows it.
    started = tx_event(
        "Started",
        0,
        utcnow(),
        "TX-OCC",
        evse={"id": 1, "connectorId": 2},
        info={"chargingState": "Charging"},
    )
    await cp.call("TransactionEvent", started)
    charging = plugged | {"chargingState": "Charging"}
    await evses_once(
        api, cp_id, [{"evseId": 1, "status": "Occupied", "connectors": [available, charging]}]
    )
    # A later Occupied (no charging state in 2.0.1's StatusNotification) keeps the car's state.
    await status(1, 2, "Occupied")
    await evses_once(
        api, cp_id, [{"evseId": 1, "status": "Occupied", "connectors": [available, charging]}]
    )
    # Faulted: OtherError (2.0.1 has no code), no car state.
    await status(1, 2, "Faulted")
    faulted = {"connectorId": 2, "status": "Faulted", "errorCode": "OtherError"}
    await evses_once(
        api, cp_id, [{"evseId": 1, "status": "Available", "connectors": [available, faulted]}]
    )

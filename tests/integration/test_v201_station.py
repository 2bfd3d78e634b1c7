"""An OCPP 2.0.1 station in the registry: its boot, its EVSEs' statuses, its device model read by
GetBaseReport at boot, its security events, and the certificate calls nobody provides for yet.

Every answer the suite sends is checked against the OCPP 2.0.1 JSON schema of the `ocpp`
library, as a station would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jsonschema
import ocpp
import pytest

from csms_shared.ocpp.v201.messages import BootNotificationRequest, StatusNotificationRequest
from station_registry.app import router
from station_registry.db import outbox
from tests.integration.conftest import RegistrySchema, Suite
from tests.integration.groups import CountingUnitOfWork, call, in_one_group, one_by_one
from tests.integration.support import ChargePointClient, eventually

pytestmark = pytest.mark.integration

SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"
BOOT = {
    "reason": "PowerUp",
    "chargingStation": {
        "vendorName": "A 2.0.1 vendor, 30 chars",
        "model": "EVSE-201",
        "serialNumber": "SN-201",
        "firmwareVersion": "1.2.3",
        "modem": {"iccid": "89310410106543789301", "imsi": "262011234567890"},
    },
}


def now() -> str:
    return datetime.now(UTC).isoformat()


def valid(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` after checking it against the 2.0.1 schema of `action`'s response."""
    schema = json.loads((SCHEMAS / f"{action}Response.json").read_text())
    jsonschema.validate(payload, schema)
    return payload


async def send(cs: ChargePointClient, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return valid(action, await cs.call(action, payload))


def report_part(request_id: int, seq_no: int, variable: str, value: str, tbc: bool) -> object:
    return {
        "requestId": request_id,
        "generatedAt": now(),
        "seqNo": seq_no,
        "tbc": tbc,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": variable},
                "variableAttribute": [
                    {"type": "Actual", "value": value, "mutability": "ReadWrite"}
                ],
                "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
            }
        ],
    }


@pytest.fixture
def reading_at_boot(suite: Suite) -> Iterator[None]:
    suite.restart_service("command-api", API_READ_CONFIGURATION_AT_BOOT="true")
    try:
        yield
    finally:
        suite.restart_service("command-api", API_READ_CONFIGURATION_AT_BOOT="false")


async def connect_201(connect_cp: Any, cp_id: str) -> ChargePointClient:
    cs: ChargePointClient = await connect_cp(cp_id, subprotocols=["ocpp2.0.1"])
    return cs


async def test_a_201_station_boots_reports_its_device_model_and_its_evses(
    reading_at_boot: None, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cs = await connect_201(connect_cp, cp_id)

    async def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    cs.responder = accept
    booted = await send(cs, "BootNotification", BOOT)
    assert booted["status"] == "Accepted" and booted["interval"] > 0

    doc = (await api.get(f"/charge-points/{cp_id}")).json()
    assert doc["ocppVersion"] == "2.0.1"
    assert (doc["chargePointVendor"], doc["chargePointModel"]) == (
        "A 2.0.1 vendor, 30 chars",
        "EVSE-201",
    )
    assert (doc["chargePointSerialNumber"], doc["firmwareVersion"]) == ("SN-201", "1.2.3")
    assert (doc["iccid"], doc["imsi"]) == ("89310410106543789301", "262011234567890")

    # GetBaseReport, not GetConfiguration, follows the boot of a 2.0.1 station.
    async def asked() -> list[tuple[str, dict[str, Any]]]:
        return cs.received_calls

    [(action, request)] = await eventually(asked, timeout=30)
    assert action == "GetBaseReport" and request["reportBase"] == "FullInventory"
    jsonschema.validate(request, json.loads((SCHEMAS / "GetBaseReportRequest.json").read_text()))

    # The report comes in two parts; both end up in the device model.
    request_id = request["requestId"]
    await send(cs, "NotifyReport", report_part(request_id, 0, "HeartbeatInterval", "300", True))
    await send(cs, "NotifyReport", report_part(request_id, 1, "MessageTimeout", "30", False))

    async def variables() -> dict[str, Any] | None:
        page = (await api.get(f"/charge-points/{cp_id}/variables")).json()
        found = {item["variable"]: item for item in page["items"]}
        return found if len(found) == 2 else None

    found = await eventually(variables)
    assert found["HeartbeatInterval"]["value"] == "300"
    assert found["MessageTimeout"]["component"] == "OCPPCommCtrlr"
    assert found["MessageTimeout"]["dataType"] == "integer"

    # EVSE 1's connector 2 is Occupied: connector 1 of the station (EVSE = 1.6's connector).
    await send(
        cs,
        "StatusNotification",
        {"timestamp": now(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 2},
    )
    await send(
        cs,
        "StatusNotification",
        {"timestamp": now(), "connectorStatus": "Faulted", "evseId": 2, "connectorId": 1},
    )

    async def connectors() -> dict[int, dict[str, Any]] | None:
        doc = (await api.get(f"/charge-points/{cp_id}")).json()
        found = {c["connectorId"]: c for c in doc.get("connectors", []) if "status" in c}
        return found if len(found) == 2 else None

    statuses = await eventually(connectors)
    assert (statuses[1]["status"], statuses[1]["errorCode"]) == ("Preparing", "NoError")
    assert (statuses[2]["status"], statuses[2]["errorCode"]) == ("Faulted", "OtherError")
    # The REST document names the connector within each EVSE too.
    assert (statuses[1]["evseConnectorId"], statuses[2]["evseConnectorId"]) == (2, 1)


async def test_the_connector_within_the_evse_is_kept(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cs = await connect_201(connect_cp, cp_id)
    await send(cs, "BootNotification", BOOT)
    await send(
        cs,
        "StatusNotification",
        {"timestamp": now(), "connectorStatus": "Available", "evseId": 3, "connectorId": 2},
    )

    async def stored() -> list[asyncpg.Record]:
        return await db.fetch(
            "SELECT connector_id, evse_connector_id, status FROM registry.connectors"
            " WHERE charge_point_id = $1",
            cp_id,
        )

    [row] = await eventually(stored)
    assert (row["connector_id"], row["evse_connector_id"], row["status"]) == (3, 2, "Available")
    history = await db.fetch(
        "SELECT connector_id, evse_connector_id FROM registry.status_history"
        " WHERE charge_point_id = $1",
        cp_id,
    )
    assert [tuple(h) for h in history] == [(3, 2)]
    # The API's history names the connector within the EVSE and speaks our terms.
    page = (await api.get(f"/charge-points/{cp_id}/status-history")).json()
    [record] = page["items"]
    assert (record["connectorId"], record["evseConnectorId"]) == (3, 2)
    assert (record["connectorStatus"], record["connectorErrorCode"]) == ("Available", "NoError")
    assert "chargingState" not in record


async def test_a_201_security_event_is_kept_and_certificate_calls_fail_for_want_of_a_provider(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, db: asyncpg.Connection
) -> None:
    cs = await connect_201(connect_cp, cp_id)
    await send(cs, "BootNotification", BOOT)
    await send(
        cs,
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": now(), "techInfo": "lid opened"},
    )

    async def events() -> list[dict[str, Any]]:
        page = (await api.get(f"/charge-points/{cp_id}/security-events")).json()
        return [e for e in page["items"] if e["type"] == "TamperDetectionActivated"]

    [event] = await eventually(events)
    assert (event["source"], event["techInfo"]) == ("cp", "lid opened")

    answer = await send(
        cs,
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AAAA",
        },
    )
    assert answer["status"] == "Failed"
    assert answer["statusInfo"]["reasonCode"] == "NoCertProvider"
    status = await send(
        cs,
        "GetCertificateStatus",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a" * 64,
                "issuerKeyHash": "b" * 64,
                "serialNumber": "01",
                "responderURL": "http://ocsp.example",
            }
        },
    )
    assert status["status"] == "Failed"

    # Without smart charging no charging profile follows the EV's needs.
    needs = await send(
        cs,
        "NotifyEVChargingNeeds",
        {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
    )
    assert needs["status"] == "Rejected"
    transfer = await send(cs, "DataTransfer", {"vendorId": "unknown.vendor", "data": {"a": 1}})
    assert transfer["status"] == "UnknownVendorId"

    # A NotifyEvent is answered and kept as sent.
    await send(
        cs,
        "NotifyEvent",
        {
            "generatedAt": now(),
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 7,
                    "timestamp": now(),
                    "trigger": "Alerting",
                    "actualValue": "true",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "Problem"},
                }
            ],
        },
    )

    async def kept() -> list[asyncpg.Record] | None:
        rows = await db.fetch(
            "SELECT action, seq_no, tbc, payload FROM registry.station_messages"
            " WHERE charge_point_id = $1 ORDER BY id",
            cp_id,
        )
        return rows if len(rows) == 2 else None

    rows = await eventually(kept)
    assert [(r["action"], r["seq_no"], r["tbc"]) for r in rows] == [
        ("NotifyEVChargingNeeds", None, False),
        ("NotifyEvent", 0, False),
    ]
    assert json.loads(rows[1]["payload"])["eventData"][0]["eventId"] == 7
    transfers = await db.fetch(
        "SELECT data FROM registry.data_transfers WHERE charge_point_id = $1", cp_id
    )
    assert [json.loads(t["data"]) for t in transfers] == [{"a": 1}]


async def test_a_batch_of_201_boots_and_statuses_leaves_what_they_leave_one_by_one(
    registry_schema: RegistrySchema, db: asyncpg.Connection
) -> None:
    sessions, settings = registry_schema
    uid = uuid.uuid4().hex[:6]
    t0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    statuses = [
        ("a", 1, 1, "Occupied", 0),
        ("a", 1, 2, "Unavailable", 1),  # the same EVSE's other connector, newer: it wins
        ("b", 2, 1, "Faulted", 1),
        ("a", 1, 1, "Occupied", 0),  # a copy: one history row, one event, older: no change
    ]

    async def run(mode: str) -> tuple[list[Any], list[dict[str, Any]], list[dict[str, Any]]]:
        cps = {name: f"V201-{uid}-{mode}-{name}" for name in ("a", "b")}
        uow = CountingUnitOfWork(sessions, settings, outbox)
        boots = [call(cps[name], BootNotificationRequest.model_validate(BOOT)) for name in "ab"]
        notes = [
            call(
                cps[name],
                StatusNotificationRequest.model_validate(
                    {
                        "timestamp": t0.replace(minute=minute).isoformat(),
                        "connectorStatus": status,
                        "evseId": evse,
                        "connectorId": connector,
                    }
                ),
            )
            for name, evse, connector, status, minute in statuses
        ]
        answers: list[Any] = []
        for route, calls in (
            (router.calls["v201.BootNotification"], boots),
            (router.calls["v201.StatusNotification"], notes),
        ):
            run_ = in_one_group if mode == "batch" else one_by_one
            bodies = await run_(uow, route, calls)
            answers += [
                {k: v for k, v in body["payload"].items() if k != "currentTime"} for body in bodies
            ]
        connectors = await db.fetch(
            "SELECT right(charge_point_id, 1) AS cp, connector_id, evse_connector_id, status,"
            " error_code FROM registry.connectors WHERE charge_point_id = ANY($1::varchar[])"
            " ORDER BY 1, 2",
            list(cps.values()),
        )
        history = await db.fetch(
            "SELECT right(charge_point_id, 1) AS cp, connector_id, evse_connector_id, status"
            " FROM registry.status_history WHERE charge_point_id = ANY($1::varchar[])"
            " ORDER BY 1, 2, 3, 4",
            list(cps.values()),
        )
        return (
            [*answers, uow.emitted],
            [dict(r) for r in connectors],
            [dict(r) for r in history],
        )

    batch = await run("batch")
    assert batch == await run("alone")
    _, connectors, history = batch
    assert connectors == [
        {
            "cp": "a",
            "connector_id": 1,
            "evse_connector_id": 2,
            "status": "Unavailable",
            "error_code": "NoError",
        },
        {
            "cp": "b",
            "connector_id": 2,
            "evse_connector_id": 1,
            "status": "Faulted",
            "error_code": "OtherError",
        },
    ]
    assert len(history) == 3

"""command-api's contract: a schema for every 2xx body, kebab-case operation ids, unknown query
parameters refused, every error an RFC 9457 problem of one shape, reads that lose no field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.support import CallErrorReply, eventually

pytestmark = pytest.mark.integration

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
PROBLEM_MEMBERS = {"type", "title", "status", "detail"}


async def openapi(suite: Any) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        spec: dict[str, Any] = (
            await client.get(suite.api_url.removesuffix("/api/v1") + "/openapi.json")
        ).json()
    return spec


NDJSON = "application/x-ndjson"


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_every_2xx_body_has_a_schema_and_every_operation_a_kebab_case_id(
    suite: Any,
) -> None:
    spec = await openapi(suite)
    ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            assert re.fullmatch(r"[a-z]+(-[a-z]+)*", operation["operationId"]), (path, method)
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response["content"]
                # NDJSON (the message log's export): the schema is that of every line.
                media = "application/json" if "application/json" in content else NDJSON
                schema = resolve(spec, content[media]["schema"])
                assert schema.get("type") == "object" and schema.get("properties"), (path, code)
                assert not schema.get("additionalProperties"), (path, code)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (path, code)
    assert len(ids) == len(set(ids))
    assert {"list-charge-points", "send-reset", "send-change-configuration"} <= set(ids)


async def test_an_unknown_query_parameter_gets_422(api: httpx.AsyncClient) -> None:
    assert (await api.get("/transactions", params={"active": "true"})).status_code == 200
    response = await api.get("/transactions", params={"isComplete": "true"})
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["query", "isComplete"]
    assert "active" in problem["detail"]
    listed = await api.get("/charge-points", params={"limit": 5, "onlin": "true"})
    assert listed.status_code == 422


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert PROBLEM_MEMBERS <= set(problem), problem
    assert problem["status"] == status
    assert all(isinstance(problem[k], str) for k in ("type", "title", "detail")), problem
    return problem


async def test_errors_are_problems_of_one_shape(
    api: httpx.AsyncClient, suite: Any, connect_cp: Any, cp_id: str
) -> None:
    assert_problem(await api.get("/charge-points/NEVER-SEEN-CP"), 404)
    assert_problem(await api.post("/id-tags", json={"idTag": ""}), 422)
    assert_problem(await api.get("/no-such-route"), 404)
    anonymous = httpx.AsyncClient(base_url=suite.api_url)
    assert_problem(await anonymous.get("/charge-points"), 401)
    created = await api.post("/api-keys", json={"name": "contract-viewer", "role": "viewer"})
    viewer = httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {created.json()['key']}"}
    )
    assert_problem(
        await viewer.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"}), 403
    )
    await anonymous.aclose()
    await viewer.aclose()

    cp = await connect_cp(cp_id, 0)
    await cp.call("BootNotification", BOOT)

    async def refuse(action: str, payload: dict[str, Any]) -> None:
        raise CallErrorReply("NotSupported", "no resets here", {"why": "policy"})

    cp.responder = refuse
    problem = assert_problem(
        await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"}), 502
    )
    assert problem["type"] == "https://csms.example/problems/call-error"
    assert problem["outcome"] == "error"
    assert (problem["errorCode"], problem["errorDetails"]) == ("NotSupported", {"why": "policy"})
    assert (await api.get(f"/commands/{problem['commandId']}")).json()["status"] == "error"

    await cp.close()

    async def offline() -> bool:
        return (await api.get(f"/charge-points/{cp_id}")).json()["online"] is False

    await eventually(offline)
    problem = assert_problem(
        await api.post(f"/charge-points/{cp_id}/commands/Reset", json={"type": "Soft"}), 409
    )
    assert problem["type"] == "https://csms.example/problems/not-connected"
    assert problem["outcome"] == "offline" and problem["commandId"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_transaction_meter_value_and_unmatched_stop_reads_keep_every_field(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    tag = "T" + uuid.uuid4().hex[:12]
    assert (await api.post("/id-tags", json={"idTag": tag, "note": "contract"})).status_code == 201
    cp = await connect_cp(cp_id, 1)
    await cp.call("BootNotification", BOOT)
    started = await cp.call(
        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 100, "timestamp": now()}
    )
    tx_id = started["transactionId"]
    await cp.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [
                {
                    "timestamp": now(),
                    "sampledValue": [
                        {
                            "value": "1100",
                            "context": "Sample.Periodic",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        }
                    ],
                }
            ],
        },
    )

    async def sampled() -> dict[str, Any] | None:
        page = (await api.get("/meter-values", params={"transactionId": tx_id})).json()
        return page if page["total"] else None

    page = await eventually(sampled)
    assert set(page) == {"items", "total", "limit", "offset"}
    assert set(page["items"][0]) == {
        "timestamp",
        "connectorId",
        "transactionId",
        "value",
        "context",
        "measurand",
        "unit",
    }
    closed = await api.post(
        f"/transactions/{tx_id}/close", json={"reason": "contract test", "force": True}
    )
    assert closed.status_code == 200, closed.text
    detail = closed.json()
    assert {
        "transactionId",
        "chargePointId",
        "connectorId",
        "idTag",
        "idTagStatus",
        "meterStart",
        "meterStop",
        "startTime",
        "stopTime",
        "stopReason",
        "stoppedBy",
        "closeReason",
        "energyWh",
        "durationSeconds",
        "cost",
        "currency",
        "pricePerKwh",
        "sessionFee",
        "active",
        "stale",
        "lastSeen",
        "warnings",
        "meterValues",
        "meterValuesTotal",
        "audit",
    } <= set(detail)
    assert detail["energyWh"] == 1000 and detail["meterStop"] == 1100
    assert detail["audit"][0]["action"] == "closed_by_operator"
    assert set(detail["audit"][0]) == {"action", "actor", "reason", "details", "at"}
    assert (await api.get(f"/transactions/{tx_id}")).json() == detail

    await cp.call("StopTransaction", {"transactionId": 999_999, "meterStop": 5, "timestamp": now()})

    async def unmatched() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (
            await api.get("/unmatched-stops", params={"chargePointId": cp_id})
        ).json()["items"]
        return items or None

    stop = (await eventually(unmatched))[0]
    assert {
        "id",
        "chargePointId",
        "transactionId",
        "kind",
        "meterStop",
        "timestamp",
        "receivedAt",
        "payload",
    } <= set(stop)
    assert stop["payload"]["transactionId"] == 999_999

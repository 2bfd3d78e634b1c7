"""The REST contract without a running suite: operation ids, schemas, problems before I/O."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from command_api.app import create_app
from command_api.settings import Settings


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings())


def test_operation_ids_are_kebab_case_and_unique(app: FastAPI) -> None:
    spec: dict[str, Any] = app.openapi()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    assert {"send-reset", "send-local-list", "list-charge-points", "get-energy-report"} <= set(ids)


def test_every_problem_is_documented_as_problem_json(app: FastAPI) -> None:
    spec: dict[str, Any] = app.openapi()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    content = response["content"]
                    assert list(content) == ["application/problem+json"], (path, code)


async def test_refusals_before_any_io_are_problems(app: FastAPI) -> None:
    # No lifespan: these are answered before a route needs the database or the broker.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        unknown = await client.get("/api/v1/charge-points", params={"onlin": "true"})
        nul = await client.get("/api/v1/charge-points/CP%00")
        missing = await client.get("/api/v1/nothing-here")
    for response, status in ((unknown, 422), (nul, 422), (missing, 404)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert {"type", "title", "status", "detail"} <= set(problem)
        assert problem["status"] == status
    assert unknown.json()["errors"] == [
        {
            "type": "extra_forbidden",
            "loc": ["query", "onlin"],
            "msg": "Unknown query parameter; this route takes: "
            "decommissioned, limit, ocppVersion, offset, online, q, registrationStatus, "
            "search, status, tag",
        }
    ]
    assert unknown.json()["type"] == "https://csms.example/problems/invalid-request"
    assert missing.json()["type"] == "about:blank"


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_2xx_body_has_a_schema_that_is_not_a_free_form_object(app: FastAPI) -> None:
    spec: dict[str, Any] = app.openapi()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                if "application/x-ndjson" in response["content"]:
                    continue  # a stream of records (the message log's export), not a body
                schema = _resolved(spec, response["content"]["application/json"]["schema"])
                assert schema.get("type") == "object", (method, path, code)
                assert schema.get("properties"), (method, path, code)
                assert not schema.get("additionalProperties"), (method, path, code)
                checked += 1
    assert checked >= 30


def test_the_neutral_charging_models_are_named_apart_from_both_versions(app: FastAPI) -> None:
    spec: dict[str, Any] = app.openapi()
    schemas = spec["components"]["schemas"]
    path = spec["paths"]["/api/v1/charge-points/{id}/charging-profiles"]
    body = path["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NeutralChargingProfile-Input"}
    profile = schemas["StoredChargingProfile"]["properties"]["profile"]
    assert profile == {"$ref": "#/components/schemas/NeutralChargingProfile-Output"}
    for mode in ("Input", "Output"):
        assert {"purpose", "kind", "schedules"} <= set(
            schemas[f"NeutralChargingProfile-{mode}"]["properties"]
        )
    # 1.6 keeps its short names; 2.0.1's are prefixed.
    assert "chargingProfileId" in schemas["ChargingProfile"]["properties"]
    assert "id" in schemas["V201ChargingProfile"]["properties"]
    assert "evseId" in schemas["V201CompositeSchedule"]["properties"]
    assert "periods" in schemas["NeutralCompositeSchedule"]["properties"]
    assert not [name for name in schemas if name.startswith("csms_shared")]

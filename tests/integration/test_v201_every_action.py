"""Every OCPP 2.0.1 action both ways through the suite, each with the smallest payload its
official schema allows: every station CALL gets a CALLRESULT that its response schema accepts,
and every CSMS command goes out over REST, is answered, and comes back in the command's
resource. The payloads are built from the schemas the `ocpp` library ships, not by hand, so a
new action cannot be left out."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import ocpp
import pytest

from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.version import OcppVersion
from tests.integration.test_v201_commands import station

pytestmark = pytest.mark.integration

SCHEMAS = Path(ocpp.__file__).parent / "v201" / "schemas"
V201 = catalog(OcppVersion.V201)
NOW = "2026-11-25T09:00:00Z"


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return loaded


def smallest(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest instance of a schema node: required properties only, the first enum
    value, a minimum where there is one, one item where an array needs one."""
    if "$ref" in node:
        return smallest(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {key: smallest(node["properties"][key], defs) for key in node.get("required", [])}
    if kind == "array":
        return [smallest(node["items"], defs)] * node.get("minItems", 0)
    if kind == "string":
        return NOW if node.get("format") == "date-time" else "x"
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return float(max(1, node.get("minimum", 1)))
    if kind == "boolean":
        return True
    return "x"  # DataTransfer's data: any JSON value


def example(name: str) -> dict[str, Any]:
    found = schema(name)
    built: dict[str, Any] = smallest(found, found.get("definitions", {}))
    return built


def valid(name: str, payload: dict[str, Any]) -> None:
    jsonschema.validate(payload, schema(name))


@pytest.mark.parametrize("action", sorted(V201.from_station))
async def test_every_station_call_is_answered_by_its_schema(
    connect_cp: Any, cp_id: str, action: str
) -> None:
    cp = await connect_cp(cp_id, 0, subprotocols=["ocpp2.0.1"])
    request = example(f"{action}Request")
    valid(f"{action}Request", request)
    answer = await cp.call(action, request)
    valid(f"{action}Response", answer)


@pytest.mark.parametrize("action", sorted(V201.to_station))
async def test_every_csms_command_goes_out_over_rest_and_comes_back(
    api: httpx.AsyncClient, connect_cp: Any, cp_id: str, action: str
) -> None:
    cp = await station(api, connect_cp, cp_id, "2.0.1")
    answer = example(f"{action}Response")

    async def respond(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return example(f"{name}Response")

    cp.responder = respond
    request = example(f"{action}Request")
    sent = await api.post(f"/charge-points/{cp_id}/commands/{action}", json=request)
    assert sent.status_code == 200, sent.text
    assert sent.json()["response"] == answer
    received = [payload for name, payload in cp.received_calls if name == action]
    assert received, cp.received_calls
    valid(f"{action}Request", received[-1])
    command = (await api.get(f"/commands/{sent.json()['commandId']}")).json()
    assert (command["status"], command["ocppVersion"]) == ("result", "2.0.1")

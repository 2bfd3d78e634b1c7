"""command-api's access log names the key, authentication failures are logged, requests counted."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.integration.commands_fixtures import COMMANDS as GOLDEN
from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration


def traceparent(trace: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}


async def test_access_log_names_the_key_and_failures_are_logged(
    suite: Suite, api: httpx.AsyncClient
) -> None:
    log = suite.services["command-api"].log_path
    # Each request under a trace id of its own: its line is told apart from other tests'.
    ok_trace, wrong_trace, none_trace = (secrets.token_hex(16) for _ in range(3))
    response = await api.get("/charge-points", params={"limit": 1}, headers=traceparent(ok_trace))
    assert response.status_code == 200
    async with httpx.AsyncClient(base_url=suite.api_url, timeout=30) as anonymous:
        wrong = {"Authorization": "Bearer csms_not_a_key_at_all_0123456789"}
        response = await anonymous.get("/charge-points", headers=wrong | traceparent(wrong_trace))
        assert response.status_code == 401
        response = await anonymous.get("/commands", headers=traceparent(none_trace))
        assert response.status_code == 401

    def text() -> str:
        return log.read_text(errors="replace")

    def lines_of(trace: str) -> list[str]:
        return [line for line in text().splitlines() if f"trace_id={trace}" in line]

    async def logged() -> bool:
        return all(len(lines_of(t)) == 2 for t in (wrong_trace, none_trace)) and bool(
            lines_of(ok_trace)
        )

    await eventually(logged, timeout=30)
    [ok] = lines_of(ok_trace)
    assert "GET /api/v1/charge-points 200" in ok and "key=bootstrap-admin" in ok
    failure, refused = lines_of(wrong_trace)
    assert "authentication failed: unknown or revoked key (sha256" in failure
    assert "GET /api/v1/charge-points 401" in refused and "key=-" in refused
    failure, refused = lines_of(none_trace)
    assert "authentication failed: no bearer key" in failure
    assert "GET /api/v1/commands 401" in refused
    assert "csms_not_a_key" not in text()  # never the key itself

    async with httpx.AsyncClient(timeout=30) as client:
        port = suite.internal_ports["command-api"]
        metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    assert (
        'csms_http_requests_total{method="GET",route="/api/v1/charge-points",status="200"}'
        in metrics
    )
    assert 'csms_http_request_seconds_bucket{le="0.005",method="GET",route="/api/v1/commands"}' in (
        metrics
    )


async def test_the_trace_id_of_a_traceparent_is_logged(suite: Suite) -> None:
    trace = secrets.token_hex(16)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{suite.api_url}/charge-points", headers=traceparent(trace))
    assert response.status_code == 401
    log = suite.services["command-api"].log_path

    async def logged() -> list[str]:
        lines = log.read_text(errors="replace").splitlines()
        return [line for line in lines if f"trace_id={trace}" in line and " 401 " in line]

    # Written once the answer is sent: waited for, not read at once.
    assert await eventually(logged, timeout=30)


async def test_a_commands_access_log_line_names_the_command(
    suite: Suite, api: httpx.AsyncClient, connect_cp: Any, cp_id: str
) -> None:
    cp = await connect_cp(cp_id)
    await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X1"})
    body, answer = GOLDEN["Reset"]

    async def respond(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return GOLDEN[action][1]

    cp.responder = respond
    response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["response"] == answer
    command_id = response.json()["commandId"]
    log = suite.services["command-api"].log_path

    async def logged() -> list[str]:
        return [
            line
            for line in log.read_text(errors="replace").splitlines()
            if f"POST /api/v1/charge-points/{cp_id}/commands/Reset 200" in line
        ]

    [line] = await eventually(logged, timeout=30)
    assert f"command_id={command_id}" in line and "key=bootstrap-admin" in line

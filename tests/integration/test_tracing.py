"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, a command's spans (REST -> DB -> broker ->
gateway) share one trace, and so do a CP CALL's (gateway -> broker -> service -> DB), exported
over OTLP/HTTP to a receiver this test runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.integration.commands_fixtures import COMMANDS as GOLDEN
from tests.integration.conftest import ADMIN_KEY, Suite
from tests.integration.infra import Infra, isolated_database, isolated_vhost
from tests.integration.support import ChargePointClient, eventually, free_port

pytestmark = pytest.mark.integration

STATEMENTS = ("INSERT", "UPDATE", "SELECT")  # SQLAlchemy's spans: the statement's verb first
Span = tuple[str, str, str]  # (service.name, span name, trace id)


class Receiver:
    """An OTLP/HTTP trace receiver: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            spans.append(
                                (attributes["service.name"], span.name, span.trace_id.hex())
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
async def traced_suite(
    receiver: Receiver, broker_and_db_base: tuple[str, str], tmp_path_factory: Any
) -> Any:
    broker, database = broker_and_db_base
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with isolated_vhost(broker) as vhost_url:
        async with isolated_database(database) as db_url:
            suite = Suite(Infra(vhost_url, db_url), tmp_path_factory.mktemp("traced-logs"))
            for service in suite.services.values():
                service.env |= otel
            for gateway in suite.gateways:
                gateway.env |= otel
            try:
                suite.start()
                yield suite
            finally:
                suite.stop()


def traced_api(suite: Suite, trace: str) -> httpx.AsyncClient:
    """A REST client whose requests carry a `traceparent` of trace id `trace`."""
    return httpx.AsyncClient(
        base_url=suite.api_url,
        headers={
            "Authorization": f"Bearer {ADMIN_KEY}",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
        },
        timeout=30,
    )


async def test_a_commands_spans_share_one_trace(traced_suite: Suite, receiver: Receiver) -> None:
    suite = traced_suite
    cp_id = "CP-traced-1"
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    try:
        await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X"})
        body, answer = GOLDEN["Reset"]

        async def respond(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return GOLDEN[action][1]

        cp.responder = respond
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        async with traced_api(suite, trace) as api:
            response = await api.post(f"/charge-points/{cp_id}/commands/Reset", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["response"] == answer
    finally:
        await cp.close()

    route = ("command-api", "POST /api/v1/charge-points/{id}/commands/Reset")

    async def spans_of_the_trace() -> set[tuple[str, str]] | None:
        found = {(service, name) for service, name, t in receiver.spans if t == trace}
        statements = [n for s, n in found if s == "command-api" and n.startswith(STATEMENTS)]
        # Each process exports on its own schedule: wait for the gateway's span too.
        gateway = ("ws-gateway", "send command") in found
        return found if route in found and statements and gateway else None

    found = await eventually(spans_of_the_trace, timeout=30)
    assert ("ws-gateway", "send command") in found, found


async def test_a_cp_calls_spans_share_one_trace(traced_suite: Suite, receiver: Receiver) -> None:
    cp = await ChargePointClient.connect(traced_suite.gateway_url(0), "CP-traced-2")
    try:
        boot = {"chargePointVendor": "ACME", "chargePointModel": "X"}
        assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
        await cp.call(
            "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
        )
    finally:
        await cp.close()

    def trace_of(service: str, name: str) -> str | None:
        return next((t for s, n, t in receiver.spans if (s, n) == (service, name)), None)

    async def joined(gateway_span: str, handler_span: str) -> set[tuple[str, str]] | None:
        trace = trace_of("ws-gateway", gateway_span)
        if trace is None or trace_of("station-registry", handler_span) != trace:
            return None
        found = {(s, n) for s, n, t in receiver.spans if t == trace}
        statements = [n for s, n in found if s == "station-registry" and n.startswith(STATEMENTS)]
        return found if statements else None

    # A decision call: the gateway's span, the registry's handling and its statements.
    found = await eventually(lambda: joined("BootNotification", "handle BootNotification"))
    assert ("station-registry", "handle BootNotification") in found, found
    # A notification too (it leaves in a bundle: the trace travels with its item).
    found = await eventually(lambda: joined("StatusNotification", "handle StatusNotification"))
    assert ("ws-gateway", "StatusNotification") in found, found


async def test_an_rpc_joins_the_trace_of_the_request_that_made_it(
    traced_suite: Suite, receiver: Receiver
) -> None:
    suite = traced_suite
    cp_id = "CP-traced-3"
    cp = await ChargePointClient.connect(suite.gateway_url(0), cp_id)
    try:
        await cp.call("BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "X"})
    finally:
        await cp.close()
    trace = "5cf92f3577b34da6a3ce929d0e0e4737"
    async with traced_api(suite, trace) as api:
        response = await api.get(f"/charge-points/{cp_id}")
    assert response.status_code == 200, response.text

    expected = {
        ("command-api", "GET /api/v1/charge-points/{id}"),
        ("command-api", "rpc station-registry.get_charge_point"),
        ("station-registry", "rpc get_charge_point"),
    }

    async def spans_of_the_trace() -> set[tuple[str, str]] | None:
        found = {(service, name) for service, name, t in receiver.spans if t == trace}
        statements = [n for s, n in found if s == "station-registry" and n.startswith(STATEMENTS)]
        # Each process exports on its own schedule: wait for all of them.
        return found if expected <= found and statements else None

    # The REST request, command-api's RPC and the registry's handling with its statements.
    found = await eventually(spans_of_the_trace, timeout=30)
    assert expected <= found, found

"""What each port serves: the CP port only /ocpp/{id}, the API port only the API and its docs,
probes and metrics only on each process's internal port."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import PUBLIC_PORTS, Suite

pytestmark = pytest.mark.integration

PROBES = ("/healthz", "/readyz", "/metrics")


@pytest.mark.parametrize("gateway", [0, 1])
async def test_cp_port_answers_plain_http_with_404_and_no_metrics(
    suite: Suite, gateway: int
) -> None:
    base = f"http://127.0.0.1:{suite.gateway_ports[gateway]}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for path in (*PROBES, "/", "/docs", "/api/v1/charge-points"):
            response = await http.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "# TYPE" not in response.text
        # A charge point's own path without the upgrade: told what is missing.
        response = await http.get("/ocpp/CP-1")
        assert response.status_code == 426
        assert response.headers["Upgrade"] == "websocket"


async def test_api_port_serves_the_api_and_its_docs_but_no_probes(suite: Suite) -> None:
    base = f"http://127.0.0.1:{suite.service_ports['command-api']}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for path in PROBES:
            response = await http.get(path)
            assert response.status_code == 404, (path, response.text)
            assert "# TYPE" not in response.text
        assert (await http.get("/docs")).status_code == 200
        spec = (await http.get("/openapi.json")).json()
        assert not {"/healthz", "/readyz", "/metrics"} & set(spec["paths"])
        # The API itself still answers (here: refuses a request without a key).
        assert (await http.get("/api/v1/charge-points")).status_code == 401


async def test_internal_ports_serve_probes_and_metrics(suite: Suite) -> None:
    internal = {
        **{f"gateway-{n}": port for n, port in enumerate(suite.gateway_internal_ports)},
        **suite.internal_ports,
    }
    # Each process's own port, none shared with a public one.
    public = {*suite.gateway_ports, *(suite.service_ports[name] for name in PUBLIC_PORTS)}
    assert len(set(internal.values())) == len(internal) and not public & set(internal.values())
    async with httpx.AsyncClient(timeout=5) as http:
        for name, port in internal.items():
            base = f"http://127.0.0.1:{port}"
            assert (await http.get(f"{base}/healthz")).text == "ok\n", name
            assert (await http.get(f"{base}/readyz")).text == "ready\n", name
            metrics = await http.get(f"{base}/metrics")
            assert metrics.status_code == 200, name
            assert "# TYPE" in metrics.text, name
            # Nothing but the probes: not the API, not the charge points' path.
            assert (await http.get(f"{base}/api/v1/charge-points")).status_code == 404, name
            assert (await http.get(f"{base}/ocpp/CP-1")).status_code == 404, name
        gateway_metrics = (await http.get(f"http://127.0.0.1:{internal['gateway-0']}/metrics")).text
        assert "csms_gateway_connections" in gateway_metrics

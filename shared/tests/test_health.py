"""The internal probe server: /healthz, /readyz and /metrics, and nothing of a failure's text."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from csms_shared.health import serve_probes

SECRET = "password authentication failed for user csms_registry at db.internal:5432"


async def _down() -> None:
    raise RuntimeError(SECRET)


async def _up() -> None:
    return None


@pytest.fixture
async def probes_down() -> AsyncIterator[str]:
    server = await serve_probes("127.0.0.1", 0, _down)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_readyz_answers_503_with_a_fixed_text_and_logs_the_reason(
    probes_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="csms_shared.health"):
        async with httpx.AsyncClient(base_url=probes_down, timeout=5) as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.text == "not ready\n"
    assert "csms_registry" not in response.text and "db.internal" not in response.text
    assert any(SECRET in record.getMessage() for record in caplog.records)
    assert {record.levelno for record in caplog.records} == {logging.WARNING}


async def test_liveness_metrics_and_unknown_paths_while_not_ready(probes_down: str) -> None:
    async with httpx.AsyncClient(base_url=probes_down, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "# TYPE" in metrics.text
        assert (await http.get("/ocpp/CP-1")).status_code == 404


async def test_readyz_answers_200_when_the_check_passes() -> None:
    server = await serve_probes("127.0.0.1", 0, _up)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{port}/readyz")
        assert (response.status_code, response.text) == (200, "ready\n")
    finally:
        server.close()
        await server.wait_closed()

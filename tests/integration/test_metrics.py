"""Each process's /metrics: one `csms_` prefix, no label Prometheus sets itself, the new gauges."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Suite
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

# The schema of each service's outbox.
OUTBOX_SCHEMAS: dict[str, str | None] = {
    "station-registry": "registry",
    "session-service": "sessions",
    "command-api": "commands",
    "message-log": "messages",
    "load-manager": "loads",
    "roaming": "roaming",
}
RESERVED_LABELS = {"service", "job", "instance"}


async def scrape(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return {family.name: family for family in text_string_to_metric_families(text)}


def labels(family: Any) -> list[dict[str, str]]:
    return [sample.labels for sample in family.samples]


def check_names_and_labels(process: str, families: dict[str, Any]) -> None:
    for name, family in families.items():
        if name.startswith(("python_", "process_")):
            continue  # prometheus-client's own
        assert name.startswith("csms_"), f"{process}: {name} lacks the csms_ prefix"
        for sample_labels in labels(family):
            assert not RESERVED_LABELS & set(sample_labels), f"{process}: {name} {sample_labels}"


async def test_every_process_exports_csms_metrics_without_reserved_labels(suite: Suite) -> None:
    ports = {name: suite.internal_ports[name] for name in suite.services}
    ports |= {g.name: p for g, p in zip(suite.gateways, suite.gateway_internal_ports, strict=True)}
    for process, port in ports.items():

        async def sampled(port: int = port, process: str = process) -> dict[str, Any] | None:
            families = await scrape(port)
            if process.startswith("gateway"):
                return families
            return families if "csms_db_pool_size" in families else None

        families = await eventually(sampled, timeout=30)
        check_names_and_labels(process, families)
        if process == "command-api":
            assert "csms_http_requests" in families
        [build] = labels(families["csms_build_info"])
        assert build["component"] in (process, "ws-gateway") and build["version"]
        if process.startswith("gateway"):
            assert "csms_gateway_connections" in families
            continue
        pool = {s["state"] for s in labels(families["csms_db_pool_connections"])}
        assert pool == {"checked_out", "idle", "overflow"}
        backlog = families.get("csms_outbox_backlog")
        schemas = {s["schema"] for s in labels(backlog)} if backlog else set()
        outbox = OUTBOX_SCHEMAS[process]
        assert schemas == ({outbox} if outbox else set())
        if process == "session-service":
            assert {"csms_transactions_active", "csms_transactions_stale"} <= set(families)


# The queues each service consumes, so samples (its own: RabbitMQ 4 lets a service declare
# passively only the queues it may configure). command-api follows no events in this suite.
SAMPLED = {
    "station-registry": {
        "station-registry.calls",
        "station-registry.events",
        "station-registry.rpc",
    },
    "session-service": {"session-service.calls", "session-service.events", "session-service.rpc"},
    "load-manager": {"load-manager.events", "load-manager.rpc"},
}


@pytest.mark.parametrize("process", sorted(SAMPLED))
async def test_each_service_samples_its_queues_and_dead_letters(suite: Suite, process: str) -> None:
    port = suite.internal_ports[process]

    async def sampled() -> dict[str, Any] | None:
        families = await scrape(port)
        queues = {s["queue"] for s in labels(families.get("csms_queue_messages", []) or [])}
        return families if SAMPLED[process] <= queues else None

    families = await eventually(sampled, timeout=30)
    queues = {s["queue"] for s in labels(families["csms_queue_messages"])}
    assert all(queue.startswith(f"{process}.") for queue in queues), queues
    consumers = {s.labels["queue"]: s.value for s in families["csms_queue_consumers"].samples}
    assert all(consumers[queue] >= 1 for queue in queues), consumers
    dead = {s["queue"] for s in labels(families["csms_dead_letters"])}
    durable = {q for q in SAMPLED[process] if not q.endswith(".rpc")}
    assert durable <= dead

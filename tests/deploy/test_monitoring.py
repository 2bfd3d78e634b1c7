"""deploy/k8s/components/monitoring: it builds, its rules pass promtool, and every metric its
alerts and dashboard read is one the code exports."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.support import K8S, ROOT, kustomize

COMPONENT = K8S / "components" / "monitoring"
OPERATIONS = ROOT / "docs" / "operations.md"
# The modules that define metrics: importing them registers every family.
METRIC_MODULES = (
    "csms_shared.samples",
    "csms_shared.bus.runtime",
    "ws_gateway.call_metrics",
    "ws_gateway.server",
    "ws_gateway.handshake",
    "ws_gateway.gather",
    "ws_gateway.seen",
    "station_registry.credentials",
    "session_service.handling",
    "session_service.gauges",
    "command_api.access_log",
    "load_manager.allocation.timer",
)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
# Prometheus's own series the rules may read.
PROMETHEUS_SERIES = {"up"}


def exported() -> set[str]:
    """Every series name the code can export."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def rule_document() -> dict[str, Any]:
    [doc] = yaml.safe_load_all((COMPONENT / "prometheusrule.yaml").read_text())
    return doc


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_document()["spec"]["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((COMPONENT / "dashboard.json").read_text())
    return doc


def dashboard_exprs() -> list[str]:
    return [t["expr"] for panel in dashboard()["panels"] for t in panel.get("targets", [])]


def series_in(expr: str) -> set[str]:
    """The metric names an expression reads (the csms ones, and Prometheus's `up`)."""
    return set(re.findall(r"\b(csms_[a-z0-9_]+|up)\b(?=\s*[{\[)]|\s*$|\s)", expr))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "with-monitoring"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "csms",
                "resources": ["../prod"],
                "components": ["../../components/monitoring"],
            }
        )
    )
    return kustomize(overlay)


def test_the_component_builds_and_selects_every_csms_pod(built: list[dict[str, Any]]) -> None:
    kinds = {(r["kind"], r["metadata"]["name"]) for r in built}
    assert {("PodMonitor", "csms"), ("PrometheusRule", "csms")} <= kinds
    [monitor] = [r for r in built if r["kind"] == "PodMonitor"]
    assert monitor["metadata"]["namespace"] == "csms"
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    deployments = [r for r in built if r["kind"] == "Deployment"]
    # gateway, registry, sessions, command-api, message-log, load-manager, roaming
    assert len(deployments) == 7
    for deployment in deployments:
        template = deployment["spec"]["template"]
        assert selector.items() <= template["metadata"]["labels"].items()
        ports = {p["name"]: p for c in template["spec"]["containers"] for p in c.get("ports", [])}
        annotation = template["metadata"]["annotations"]["prometheus.io/port"]
        assert str(ports[endpoint["port"]]["containerPort"]) == annotation
    [config] = [r for r in built if r["kind"] == "ConfigMap" and "csms.json" in r.get("data", {})]
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    kubernetes_validate.validate(config, kubernetes_validate.utils.latest_version(), strict=True)


def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: prometheus; or set PROMTOOL)")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_document()["spec"]))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_read_only_exported_metrics() -> None:
    known = exported() | PROMETHEUS_SERIES
    exprs = [rule["expr"] for rule in rules()] + dashboard_exprs()
    read = set().union(*(series_in(expr) for expr in exprs))
    assert read, "no metric found in the expressions"
    assert not read - known, f"not exported by the code: {sorted(read - known)}"
    # The alerts the deploy guide promises, by what they watch.
    alerts = {rule["alert"]: rule["expr"] for rule in rules()}
    for metric in (
        "up",
        "csms_gateway_connections",
        "csms_outbox_oldest_seconds",
        "csms_queue_messages",
        "csms_dead_letters",
        "csms_gateway_commands_total",
        "csms_transactions_stale",
    ):
        assert any(metric in series_in(expr) for expr in alerts.values()), metric


def test_the_checker_catches_a_misspelled_metric() -> None:
    assert series_in('sum(rate(csms_gateway_calls_totl{outcome="x"}[5m]))') == {
        "csms_gateway_calls_totl"
    }
    assert "csms_gateway_calls_totl" not in exported()


def test_every_alert_has_a_runbook_entry() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in rules():
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}


def test_the_dashboard_covers_fleet_traffic_latency_backlog_and_db() -> None:
    doc = dashboard()
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "Traffic", "Latency", "Backlog", "Database"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))

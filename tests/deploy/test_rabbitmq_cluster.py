"""components/rabbitmq-cluster: the production broker as three nodes, as make cluster-test runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from yarl import URL

from chaos.cluster import CLUSTER_CONFIG, NODES
from csms_shared.bus.nodes import broker_urls
from tests.deploy.support import K8S, kustomize

COMPONENT = K8S / "components" / "rabbitmq-cluster"


def with_component(tmp_path: Path, component: str) -> list[dict[str, Any]]:
    """The prod overlay with `component` added, built from a copy of deploy/k8s."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)  # kustomize loads only files below the overlay's root
    overlay = tree / "overlays" / "with-broker"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "csms",
                "resources": ["../prod"],
                "components": [f"../../components/{component}"],
            }
        )
    )
    return kustomize(overlay)


def the_cluster(resources: list[dict[str, Any]]) -> dict[str, Any]:
    (cluster,) = [r for r in resources if r["kind"] == "RabbitmqCluster"]
    return cluster


def test_three_nodes_configured_as_the_cluster_test_runs_them(tmp_path: Path) -> None:
    resources = with_component(tmp_path, "rabbitmq-cluster")
    cluster = the_cluster(resources)
    spec = cluster["spec"]
    assert spec["replicas"] == NODES == 3, "a quorum queue keeps two of three with one node down"
    config = {line.strip() for line in spec["rabbitmq"]["additionalConfig"].splitlines()}
    assert set(CLUSTER_CONFIG) <= config
    assert "rabbitmq_prometheus" in spec["rabbitmq"]["additionalPlugins"]
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    pods = {"app.kubernetes.io/name": cluster["metadata"]["name"]}  # the operator's pod label
    assert term["labelSelector"]["matchLabels"] == pods


def test_drains_take_one_broker_node_at_a_time(tmp_path: Path) -> None:
    resources = with_component(tmp_path, "rabbitmq-cluster")
    name = the_cluster(resources)["metadata"]["name"]
    budgets = [r for r in resources if r["kind"] == "PodDisruptionBudget"]
    (budget,) = [
        b
        for b in budgets
        if b["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
    ]
    assert budget["spec"]["maxUnavailable"] == 1
    policies = [r for r in resources if r["kind"] == "NetworkPolicy"]
    assert any(
        p["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        for p in policies
    ), "the nodes must reach each other beside default-deny"


def test_standard_kinds_validate(tmp_path: Path) -> None:
    for resource in with_component(tmp_path, "rabbitmq-cluster"):
        assert resource["metadata"].get("namespace", "csms") == "csms"
        if resource["apiVersion"] != "rabbitmq.com/v1beta1":
            kubernetes_validate.validate(
                resource, kubernetes_validate.utils.latest_version(), strict=True
            )


def test_in_cluster_backends_use_this_broker(tmp_path: Path) -> None:
    alone = the_cluster(with_component(tmp_path / "a", "rabbitmq-cluster"))
    backends = with_component(tmp_path / "b", "in-cluster-backends")
    assert the_cluster(backends) == alone
    references = {
        r["spec"]["rabbitmqClusterReference"]["name"]
        for r in backends
        if "rabbitmqClusterReference" in r.get("spec", {})
    }
    assert references == {alone["metadata"]["name"]}


def test_the_documented_node_list_names_every_pod() -> None:
    text = (COMPONENT / "kustomization.yaml").read_text()
    lines = [line.strip("# ").rstrip(",") for line in text.splitlines() if "amqp://" in line]
    nodes = broker_urls(",".join(lines))
    assert [URL(node).host for node in nodes] == [
        f"csms-rabbitmq-server-{i}.csms-rabbitmq-nodes.csms.svc" for i in range(NODES)
    ]

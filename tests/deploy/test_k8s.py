"""deploy/k8s built per overlay, validated against the Kubernetes schemas and the services."""

from __future__ import annotations

import asyncio
import base64
import shutil
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import (
    EXPECTED_PORTS,
    INTERNAL_PORTS,
    K8S,
    OVERLAYS,
    PROBES,
    Resource,
    Service,
    containers,
    env_problems,
    kustomize,
    load_documents,
    load_settings,
    parse_dockerfile,
    pod_specs,
    service_by_script,
    services,
    worst_stop,
)

# kubernetes-validate re-reads its multi-megabyte definitions file on every call; the files
# never change during a run, so read each once.
kubernetes_validate.utils.schema_contents = cache(kubernetes_validate.utils.schema_contents)

# The oldest Kubernetes minor these manifests target, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
# Custom resources of the optional in-cluster backends: no standard schema to check them by.
CUSTOM_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    # The messaging-topology operator's broker users (scripts/broker_users.py k8s).
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
    ("rabbitmq.com/v1beta1", "TopicPermission"),
    ("postgresql.cnpg.io/v1", "Cluster"),
}
SECRET_TEMPLATES = K8S / "secrets" / "secrets.example.yaml"
INGRESS_NAMESPACE = "ingress-nginx"
OPERATOR_ADMIN_KEY = "3f9c2a7e5b1d8c4f6a0e2b9d7c5a3f1e"
OPERATOR_ADMIN_PASSWORD = "lantern-orbit-quarry-7-meadow"
MONITORING_NAMESPACE = "monitoring"
# Egress beyond DNS, RabbitMQ and Postgres: roaming calls eMSPs' and hubs' OCPI interfaces.
EXTRA_EGRESS = {"roaming": {80, 443}}


@cache
def built(overlay: str) -> tuple[Resource, ...]:
    return tuple(kustomize(K8S / "overlays" / overlay))


def of_kind(resources: tuple[Resource, ...] | list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@cache
def secret_templates() -> dict[str, dict[str, str]]:
    secrets: dict[str, dict[str, str]] = {}
    for doc in load_documents(SECRET_TEMPLATES):
        values = dict(doc.get("stringData", {}))
        values |= {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
        # The template's placeholder admin key is refused by command-api on purpose (see
        # test_the_template_admin_key_is_refused): here it stands for the key an operator sets.
        if values.get("CSMS_ADMIN_API_KEY") == "CHANGE-ME":
            values["CSMS_ADMIN_API_KEY"] = OPERATOR_ADMIN_KEY
        if values.get("CSMS_ADMIN_PASSWORD") == "CHANGE-ME":
            values["CSMS_ADMIN_PASSWORD"] = OPERATOR_ADMIN_PASSWORD
        secrets[doc["metadata"]["name"]] = values
    return secrets


def container_env(container: dict[str, Any], resources: tuple[Resource, ...]) -> dict[str, str]:
    """The environment a container starts with: config maps, secret templates, literals."""
    config_maps = of_kind(resources, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= config_maps[source["configMapRef"]["name"]]["data"]
        else:
            env |= secret_templates()[source["secretRef"]["name"]]
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]
        if "secretKeyRef" in reference:
            ref = reference["secretKeyRef"]
            env[variable["name"]] = secret_templates()[ref["name"]][ref["key"]]
        elif "configMapKeyRef" in reference:
            ref = reference["configMapKeyRef"]
            env[variable["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
        else:
            raise AssertionError(f"unexpected valueFrom {reference}")
    return env


def workloads(overlay: str) -> list[tuple[Resource, Service, dict[str, Any]]]:
    """(deployment, service, main container) for every Deployment."""
    found = []
    for deployment in of_kind(built(overlay), "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        (main,) = pod["containers"]
        found.append((deployment, service_by_script(main["args"][0]), main))
    return found


def workload(overlay: str, name: str) -> tuple[Resource, Service, dict[str, Any]]:
    """The workload of service `name`."""
    (found,) = [w for w in workloads(overlay) if w[1].name == name]
    return found


def named_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        match expression["operator"]:
            case "In":
                ok = value in expression["values"]
            case "NotIn":
                ok = value not in expression["values"]
            case "Exists":
                ok = present
            case "DoesNotExist":
                ok = not present
            case other:
                raise AssertionError(other)
        if not ok:
            return False
    return True


# -- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_are_valid_kubernetes(overlay: str, version: str) -> None:
    resources = built(overlay)
    assert len(resources) > 20
    for resource in resources:
        # strict: an unknown or misspelled field is an error, not silently dropped.
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_validator_rejects_a_misspelled_field() -> None:
    deployment = dict(of_kind(built("dev"), "Deployment")["ws-gateway"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_secret_templates_are_valid_and_outside_every_overlay() -> None:
    for doc in load_documents(SECRET_TEMPLATES):
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    for overlay in OVERLAYS:
        assert not of_kind(built(overlay), "Secret"), "apply -k must never overwrite credentials"


def test_optional_components_build(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "with-components"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "csms",
                "resources": ["../prod"],
                "components": [
                    "../../components/gateway-connections-hpa",
                    "../../components/gateway-client-certificates",
                    "../../components/in-cluster-backends",
                    "../../components/session-decisions-apart",
                ],
            }
        )
    )
    resources = kustomize(overlay)
    custom = [r for r in resources if (r["apiVersion"], r["kind"]) in CUSTOM_KINDS]
    assert {r["kind"] for r in custom} == {kind for _, kind in CUSTOM_KINDS}
    for resource in resources:
        assert resource["metadata"].get("namespace", "csms") == "csms"
        if resource not in custom:
            kubernetes_validate.validate(resource, KUBERNETES_VERSIONS[-1], strict=True)
    # An acknowledged commit survives the primary only with a synchronous standby that blocks
    # writes rather than drop to none (docs/deploy.md, "Postgres fail-over").
    postgres = next(r for r in custom if r["kind"] == "Cluster")
    assert postgres["spec"]["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
    }
    metrics = of_kind(resources, "HorizontalPodAutoscaler")["ws-gateway"]["spec"]["metrics"]
    assert metrics[0]["type"] == "Pods"
    assert metrics[0]["pods"]["metric"]["name"] == "csms_gateway_connections"
    gateway = of_kind(resources, "Deployment")["ws-gateway"]["spec"]["template"]["spec"]
    env = container_env(gateway["containers"][0], tuple(resources))
    assert env["GATEWAY_TLS_CLIENT_CA_FILE"].endswith("/ca.crt")
    assert not env_problems(services()["ws-gateway"], env)
    assert not file_settings_problems(resources)
    # The session-service's decisions apart (docs/SCALING.md): the same program, its own pods.
    deployments = of_kind(resources, "Deployment")
    lanes = {}
    for name in ("session-service", "session-service-decisions"):
        pod = deployments[name]["spec"]["template"]["spec"]
        env = container_env(pod["containers"][0], tuple(resources))
        assert not env_problems(services()["session-service"], env), name
        lanes[name] = env["SESSION_CONSUME"]
        assert pod["serviceAccountName"] == "session-service"
    assert lanes == {
        "session-service": "calls,events,rpc",
        "session-service-decisions": "decisions",
    }
    decisions = deployments["session-service-decisions"]["spec"]["template"]["metadata"]["labels"]
    assert {5432, 5672} <= egress_ports(resources, decisions)
    assert of_kind(resources, "HorizontalPodAutoscaler")["session-service-decisions"]
    assert of_kind(resources, "PodDisruptionBudget")["session-service-decisions"]


# -- references ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(overlay: str) -> None:
    resources = built(overlay)
    config_maps = of_kind(resources, "ConfigMap")
    accounts = of_kind(resources, "ServiceAccount")
    for resource in resources:
        for pod in pod_specs(resource):
            assert pod["serviceAccountName"] in accounts
            for container in containers(pod):
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_maps
                for variable in container.get("env", []):
                    ref = variable.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["key"] in secret_templates().get(ref["name"], {}), ref
    for ingress in of_kind(resources, "Ingress").values():
        for tls in ingress["spec"]["tls"]:
            assert tls["secretName"] in secret_templates()
        services_by_name = of_kind(resources, "Service")
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = services_by_name[backend["name"]]["spec"]["ports"]
                assert backend["port"]["name"] in {p["name"] for p in ports}
    (namespace,) = of_kind(resources, "Namespace")
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace


# -- the services --------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_runs_with_an_environment_its_settings_read(overlay: str) -> None:
    found = workloads(overlay)
    assert {service.name for _, service, _ in found} == set(services())
    for deployment, service, main in found:
        assert main["args"] == [service.script]
        env = container_env(main, built(overlay))
        assert not env_problems(service, env), deployment["metadata"]["name"]
        settings = service.settings_class()
        pod = deployment["spec"]["template"]["spec"]
        migrations = pod.get("initContainers", [])
        if "database_url" in settings.model_fields:
            (migrate,) = migrations
            assert migrate["args"] == [service.script, "migrate"]
            assert migrate["image"] == main["image"]
            migrate_env = container_env(migrate, built(overlay))
            assert not env_problems(service, migrate_env, required=("database_url",))
            url = f"{settings.model_config['env_prefix']}DATABASE_URL"
            assert migrate_env[url] == env[url]
        else:
            assert not migrations, f"{service.name} has no database to migrate"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_and_probes_match_what_the_services_serve(overlay: str) -> None:
    resources = built(overlay)
    for deployment, service, main in workloads(overlay):
        settings = load_settings(service, container_env(main, resources))
        internal = getattr(settings, service.port_field())
        assert internal == INTERNAL_PORTS[service.name]
        public_field = service.public_port_field()
        public = getattr(settings, public_field) if public_field else None
        assert public == EXPECTED_PORTS.get(service.name)
        container_ports = {p["containerPort"] for p in main["ports"]}
        assert container_ports == {internal} | ({public} if public else set())
        # Probes on the internal port, plain HTTP even where the public port speaks TLS.
        for kind, path in PROBES.items():
            probe = main[f"{kind}Probe"]["httpGet"]
            assert probe["path"] == path, (service.name, kind)
            assert named_port(main, probe["port"]) == internal, (service.name, kind)
            assert probe.get("scheme", "HTTP") == "HTTP", (service.name, kind)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(internal)
        assert annotations.get("prometheus.io/scheme", "http") == "http"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        fronting = [
            s
            for s in of_kind(resources, "Service").values()
            if selects({"matchLabels": s["spec"]["selector"]}, labels)
        ]
        assert fronting, f"no Service for {service.name}"
        for front in fronting:
            assert front["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
            for service_port in front["spec"]["ports"]:
                # A public Service carries the public port only, never probes or metrics.
                target = named_port(main, service_port["targetPort"])
                assert target == (public or internal), (front["metadata"]["name"], target)


def test_probe_paths_are_the_ones_the_services_answer() -> None:
    from command_api import app as api_app
    from command_api.settings import Settings as ApiSettings
    from csms_shared import health, service
    from station_registry import app as registry_app
    from ws_gateway import app as gateway_app

    async def ready() -> None:
        return None

    async def not_ready() -> None:
        raise RuntimeError("broker connection is down")

    for path in set(PROBES.values()):
        status, _, _ = asyncio.run(health.probe_response(path, ready))
        assert status.startswith("200"), path
    status, body, _ = asyncio.run(health.probe_response(PROBES["readiness"], not_ready))
    assert status.startswith("503") and b"broker" not in body
    assert asyncio.run(health.probe_response("/nope", ready))[0].startswith("404")
    # Who answers them: the shared probe server, started by every process on its internal port.
    assert registry_app.serve is service.serve
    assert gateway_app.serve_probes is health.serve_probes
    assert api_app.serve_probes is health.serve_probes
    # ... and not the API (its lifespan is not run: no broker or database needed to route).
    import httpx

    async def statuses(*paths: str) -> dict[str, int]:
        transport = httpx.ASGITransport(app=api_app.create_app(ApiSettings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            return {path: (await api.get(path)).status_code for path in paths}

    answers = asyncio.run(statuses(*PROBES.values(), "/metrics", "/docs"))
    assert answers == {"/healthz": 404, "/readyz": 404, "/metrics": 404, "/docs": 200}


def file_settings_problems(resources: tuple[Resource, ...] | list[Resource]) -> list[str]:
    """Settings naming a file (`*_file`) whose file is not a key of a mounted secret template."""
    problems = []
    checked = 0
    for deployment in of_kind(resources, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers(pod):
            service = service_by_script(container["args"][0])
            settings = load_settings(service, container_env(container, tuple(resources)))
            for field in type(settings).model_fields:
                value = getattr(settings, field)
                if not field.endswith("_file") or value is None:
                    continue
                checked += 1
                path = Path(value)
                mounts = [
                    m
                    for m in container.get("volumeMounts", [])
                    if m["mountPath"] == str(path.parent)
                ]
                secret = volumes[mounts[0]["name"]].get("secret") if mounts else None
                if secret is None:
                    problems.append(
                        f"{container['name']}: {field}={value} is not in a Secret mount"
                    )
                elif path.name not in secret_templates().get(secret["secretName"], {}):
                    problems.append(f"{container['name']}: no key {path.name} in {secret}")
    return problems if checked else ["no file settings to check"]


def test_certificate_files_come_from_mounted_secrets() -> None:
    # prod serves TLS from the gateways; dev has no certificate files at all.
    assert not file_settings_problems(built("prod"))
    assert file_settings_problems(built("dev")) == ["no file settings to check"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down(overlay: str) -> None:
    for deployment, service, _ in workloads(overlay):
        pod = deployment["spec"]["template"]["spec"]
        user = parse_dockerfile(service.dockerfile)[-1].last("USER")
        assert user is not None
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == int(user.split(":")[0])
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in containers(pod):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp"


QUANTITY_SUFFIXES = {"m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(value: str | int) -> float:
    text = str(value)
    for suffix, factor in QUANTITY_SUFFIXES.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_and_topology_spread(overlay: str) -> None:
    for deployment, _, main in workloads(overlay):
        pod = deployment["spec"]["template"]["spec"]
        for container in containers(pod):
            resources = container["resources"]
            for name in ("cpu", "memory"):
                assert quantity(resources["requests"][name]) <= quantity(resources["limits"][name])
        if overlay == "prod":
            resources = main["resources"]
            assert resources["requests"]["memory"] == resources["limits"]["memory"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        spread = pod["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for constraint in spread:
            assert selects(constraint["labelSelector"], labels)


def test_prod_is_stricter_than_dev() -> None:
    dev = {d["metadata"]["name"]: m["resources"] for d, _, m in workloads("dev")}
    prod = {d["metadata"]["name"]: m["resources"] for d, _, m in workloads("prod")}
    for name in dev:
        assert quantity(prod[name]["requests"]["memory"]) >= quantity(
            dev[name]["requests"]["memory"]
        )
    for overlay, tag in (("dev", ":dev"), ("prod", ":0.1.0")):
        for _, _, main in workloads(overlay):
            assert main["image"].endswith(tag)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscalers_and_disruption_budgets(overlay: str) -> None:
    resources = built(overlay)
    autoscalers = of_kind(resources, "HorizontalPodAutoscaler").values()
    budgets = of_kind(resources, "PodDisruptionBudget").values()
    for deployment, service, _ in workloads(overlay):
        name = deployment["metadata"]["name"]
        (hpa,) = [h for h in autoscalers if h["spec"]["scaleTargetRef"]["name"] == name]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert "replicas" not in deployment["spec"], "the HPA owns the count; apply never resets it"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        metrics = hpa["spec"]["metrics"]
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (pdb,) = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert pdb["spec"].get("maxUnavailable") == 1, "drains proceed, one pod at a time"
        if overlay == "prod":
            assert hpa["spec"]["minReplicas"] >= 2, f"{service.name}: survive a node loss"
    gateways = {
        o: of_kind(built(o), "HorizontalPodAutoscaler")["ws-gateway"]["spec"] for o in OVERLAYS
    }
    assert gateways["dev"]["minReplicas"] == 2
    assert gateways["prod"]["minReplicas"] > gateways["dev"]["minReplicas"]
    assert gateways["prod"]["maxReplicas"] > gateways["dev"]["maxReplicas"]
    for spec in gateways.values():
        (policy,) = spec["behavior"]["scaleDown"]["policies"]
        assert (policy["type"], policy["value"]) == ("Pods", 1), "scale gateways in slowly"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_stops_within_its_grace_period(overlay: str) -> None:
    """Even with its broker and database silent: SIGKILL cuts nothing a stop still does."""
    resources = built(overlay)
    for deployment, service, main in workloads(overlay):
        settings = load_settings(service, container_env(main, resources))
        pre_stop = main.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        waits = 0
        if pre_stop is not None:
            assert pre_stop[0] == "sleep"
            waits = int(pre_stop[1])
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        assert grace > waits + worst_stop(service.name, settings), deployment["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_drains_behind_a_pre_stop_and_rolls_one_at_a_time(overlay: str) -> None:
    (deployment, _, main) = workload(overlay, "ws-gateway")
    assert main["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)
    assert deployment["spec"]["minReadySeconds"] > 0


def test_unknown_charge_points_accepted_in_dev_only() -> None:
    policies = {}
    for overlay in OVERLAYS:
        (_, service, main) = workload(overlay, "station-registry")
        settings = load_settings(service, container_env(main, built(overlay)))
        policies[overlay] = str(settings.unknown_charge_points)  # type: ignore[attr-defined]
    assert policies == {"dev": "accept", "prod": "reject"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingresses_keep_websockets_open_behind_tls(overlay: str) -> None:
    from ws_gateway.server import OCPP_PATH

    resources = built(overlay)
    ingresses = of_kind(resources, "Ingress")
    gateway = ingresses["ws-gateway"]
    annotations = gateway["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600
    for ingress in ingresses.values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
        assert {rule["host"] for rule in ingress["spec"]["rules"]} <= hosts
    _, gateway_service, gateway_main = workload(overlay, "ws-gateway")
    gateway_settings = load_settings(gateway_service, container_env(gateway_main, resources))
    protocol = annotations.get("nginx.ingress.kubernetes.io/backend-protocol", "HTTP")
    assert protocol == ("HTTPS" if gateway_settings.tls_cert_file else "HTTP")  # type: ignore[attr-defined]
    (path,) = [p for rule in gateway["spec"]["rules"] for p in rule["http"]["paths"]]
    assert (path["path"], path["pathType"]) == (OCPP_PATH, "Prefix")
    assert path["backend"]["service"]["name"] == "ws-gateway"
    (_, api, main) = workload(overlay, "command-api")
    settings = load_settings(api, container_env(main, resources))
    api_annotations = ingresses["command-api"]["metadata"]["annotations"]
    read_timeout = int(api_annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert read_timeout > settings.command_timeout_max  # type: ignore[attr-defined]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_roaming_is_behind_the_api_host_at_its_public_url(overlay: str) -> None:
    resources = built(overlay)
    (_, roaming, main) = workload(overlay, "roaming")
    settings = load_settings(roaming, container_env(main, resources))
    public = urlsplit(settings.public_url)  # type: ignore[attr-defined]
    assert public.scheme == "https", "the ingress serves the API host over TLS only"
    api = of_kind(resources, "Ingress")["command-api"]
    routes = {
        (rule["host"], path["path"]): path
        for rule in api["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    # /ocpi on the API host reaches roaming's OCPI port, the URL parties are handed.
    ocpi = routes[(public.hostname, public.path)]
    assert ocpi["pathType"] == "Prefix"
    assert ocpi["backend"]["service"] == {"name": "roaming", "port": {"name": "http"}}
    assert named_port(main, "http") == settings.http_port  # type: ignore[attr-defined]
    # The operators' API stays on / of the same host.
    assert routes[(public.hostname, "/")]["backend"]["service"]["name"] == "command-api"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateways_have_a_load_balancer(overlay: str) -> None:
    resources = built(overlay)
    balancers = [
        s for s in of_kind(resources, "Service").values() if s["spec"]["type"] == "LoadBalancer"
    ]
    (balancer,) = balancers
    assert balancer["spec"]["selector"] == {"app.kubernetes.io/name": "ws-gateway"}
    assert [p["port"] for p in balancer["spec"]["ports"]] == [EXPECTED_PORTS["ws-gateway"]]


# -- network policies ------------------------------------------------------------------------


def policies_for(resources: tuple[Resource, ...], labels: dict[str, str], kind: str) -> list[Any]:
    return [
        p
        for p in of_kind(resources, "NetworkPolicy").values()
        if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def ingress_sources(resources: tuple[Resource, ...], labels: dict[str, str], port: int) -> set[str]:
    """Who may reach `port`: "anywhere", or "namespace:<name>" per allowed namespace."""
    sources: set[str] = set()
    for policy in policies_for(resources, labels, "Ingress"):
        for rule in policy["spec"].get("ingress", []):
            if not any(p["port"] == port for p in rule.get("ports", [])):
                continue
            if "from" not in rule:
                sources.add("anywhere")
            for peer in rule.get("from", []):
                names = peer.get("namespaceSelector", {}).get("matchLabels", {})
                sources.add(f"namespace:{names.get('kubernetes.io/metadata.name', '*')}")
    return sources


def egress_ports(resources: tuple[Resource, ...], labels: dict[str, str]) -> set[int]:
    return {
        port["port"]
        for policy in policies_for(resources, labels, "Egress")
        for rule in policy["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_what_must_talk(overlay: str) -> None:
    resources = built(overlay)
    deny = of_kind(resources, "NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    monitoring = f"namespace:{MONITORING_NAMESPACE}"
    for deployment, service, _ in workloads(overlay):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        # The public port: charge points or operators, and not even monitoring (no probes there).
        public = EXPECTED_PORTS.get(service.name)
        if public is not None:
            expected = {
                "ws-gateway": {"anywhere"},
                "command-api": {f"namespace:{INGRESS_NAMESPACE}"},
                "roaming": {f"namespace:{INGRESS_NAMESPACE}"},
            }[service.name]
            assert ingress_sources(resources, labels, public) == expected, service.name
        # The internal port: the monitoring namespace only.
        internal = INTERNAL_PORTS[service.name]
        assert ingress_sources(resources, labels, internal) == {monitoring}, service.name
        other_ports = {*EXPECTED_PORTS.values(), *INTERNAL_PORTS.values()} - {public, internal}
        assert not any(ingress_sources(resources, labels, p) - {monitoring} for p in other_ports)
        egress = egress_ports(resources, labels)
        settings = service.settings_class()
        wants_db = "database_url" in settings.model_fields
        assert {53, 5672} <= egress
        assert (5432 in egress) == wants_db, service.name
        extra = EXTRA_EGRESS.get(service.name, set())
        assert extra <= egress, service.name
        assert egress <= {53, 5671, 5672, 5432} | extra, service.name


def test_only_the_monitoring_namespace_reaches_the_internal_ports() -> None:
    (policy,) = [
        p
        for p in of_kind(built("prod"), "NetworkPolicy").values()
        if any(
            port["port"] in INTERNAL_PORTS.values()
            for rule in p["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        )
    ]
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "csms"}}
    (rule,) = policy["spec"]["ingress"]
    monitoring = {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": monitoring}}]
    assert {p["port"] for p in rule["ports"]} == set(INTERNAL_PORTS.values())
    assert not {p["port"] for p in rule["ports"]} & set(EXPECTED_PORTS.values())


def test_the_template_admin_key_is_refused() -> None:
    from command_api.auth import bootstrap_key_problem

    [admin_key] = [
        doc["stringData"]["CSMS_ADMIN_API_KEY"]
        for doc in load_documents(SECRET_TEMPLATES)
        if "CSMS_ADMIN_API_KEY" in doc.get("stringData", {})
    ]
    assert bootstrap_key_problem(admin_key), "a copied template must not start as it is"


def test_the_template_admin_password_is_refused() -> None:
    from command_api.accounts.passwords import password_problem

    [password] = [
        doc["stringData"]["CSMS_ADMIN_PASSWORD"]
        for doc in load_documents(SECRET_TEMPLATES)
        if "CSMS_ADMIN_PASSWORD" in doc.get("stringData", {})
    ]
    assert password_problem(password, "admin"), "a copied template must not start as it is"
    assert password_problem(OPERATOR_ADMIN_PASSWORD, "admin") is None

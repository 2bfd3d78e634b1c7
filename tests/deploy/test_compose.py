"""docker-compose.yml against the services it runs (no Docker engine here, so read, not run)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from csms_shared.bus.access import ROLES
from tests.deploy.support import (
    DEPLOYMENT_REQUIRED,
    EXPECTED_PORTS,
    INTERNAL_PORTS,
    ROOT,
    Service,
    env_problems,
    interpolate,
    load_settings,
    parse_dockerfile,
    service_by_script,
    services,
    worst_stop,
)

COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "compose" / "nginx.conf"
POSTGRES_INIT = ROOT / "deploy" / "compose" / "postgres-init.sql"
# What a developer exports before `docker compose up` (the compose file insists on it).
SHELL_ENV = {
    "CSMS_ADMIN_API_KEY": "csms-compose-test-admin-key-0123456789abcdef",
    "CSMS_BROKER_ADMIN_PASSWORD": "test-admin-password",
    **{f"CSMS_BROKER_PASSWORD_{r.upper().replace('-', '_')}": f"pw-{r}" for r in ROLES},
}
PUBLIC_PORTS = {9000, 8080, 8090, 15672}


def load_compose() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(compose, dict)
    return compose


COMPOSE_SERVICES: dict[str, Any] = load_compose()["services"]
BUILT = sorted(name for name, spec in COMPOSE_SERVICES.items() if "build" in spec)


def environment(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), SHELL_ENV) for key, value in raw.items()}


def built_service(spec: dict[str, Any]) -> Service:
    return services()[spec["build"]["args"]["SERVICE"]]


def stop_grace(spec: dict[str, Any]) -> int:
    """A service's stop_grace_period in seconds (compose's default: 10 s)."""
    grace = re.fullmatch(r"(\d+)s", spec.get("stop_grace_period", "10s"))
    assert grace, "stop_grace_period in seconds"
    return int(grace.group(1))


def published_ports(spec: dict[str, Any]) -> set[int]:
    # "8080:8080" or "127.0.0.1:15672:15672": the host port is the one before the container's.
    return {int(str(port).split(":")[-2]) for port in spec.get("ports", [])}


def test_compose_parses_and_names_the_suite() -> None:
    compose = load_compose()
    assert compose["name"] == "csms"
    assert {"rabbitmq", "postgres", "gateway-lb"} <= set(COMPOSE_SERVICES)
    assert "management" in COMPOSE_SERVICES["rabbitmq"]["image"]
    volumes = COMPOSE_SERVICES["postgres"]["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes)


def test_volumes_are_declared_or_exist() -> None:
    declared = set(load_compose()["volumes"])
    for name, spec in COMPOSE_SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).is_file(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_every_service_is_built_from_the_one_dockerfile() -> None:
    for name in BUILT:
        build = COMPOSE_SERVICES[name]["build"]
        assert build["context"] == ".", f"{name}: the build context is the workspace root"
        assert ROOT / build["dockerfile"] == ROOT / "Dockerfile", name
        assert build["args"]["SERVICE"] in services(), f"{name}: SERVICE names no service"
        image = COMPOSE_SERVICES[name]["image"].split(":")[0]
        assert image == f"csms/{build['args']['SERVICE']}", f"{name}: image named for SERVICE"
    runs = {built_service(COMPOSE_SERVICES[n]).name for n in BUILT}
    assert runs == set(services()), "every workspace service runs in compose"


@pytest.mark.parametrize("name", BUILT)
def test_command_is_the_console_script(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    service = built_service(spec)
    command = spec.get("command") or [service.script]
    assert command in ([service.script], [service.script, "migrate"])
    assert (command[-1] == "migrate") == name.endswith("-migrate")


@pytest.mark.parametrize("name", BUILT)
def test_environment_is_what_the_settings_read(name: str) -> None:
    service = built_service(COMPOSE_SERVICES[name])
    env = environment(COMPOSE_SERVICES[name])
    # `<service> migrate` needs only its database; the service itself needs everything.
    required = ("database_url",) if name.endswith("-migrate") else DEPLOYMENT_REQUIRED
    assert not env_problems(service, env, required)


@pytest.mark.parametrize("name", [n for n in BUILT if not n.endswith("-migrate")])
def test_ports_and_healthchecks_match_the_service(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    service = built_service(spec)
    settings = load_settings(service, environment(spec))
    internal = getattr(settings, service.port_field())
    assert internal == INTERNAL_PORTS[service.name]
    public_field = service.public_port_field()
    public = getattr(settings, public_field) if public_field else None
    assert public == EXPECTED_PORTS.get(service.name)
    exposed = {int(p) for p in spec.get("expose", [])} | published_ports(spec)
    assert exposed == {internal} | ({public} if public else set())
    # Probes and metrics stay on the compose network: never published to the host.
    assert internal not in published_ports(spec)
    # The image's HEALTHCHECK (it follows the port variable) unless compose overrides it.
    assert "healthcheck" not in spec or "/healthz" in str(spec["healthcheck"]["test"])
    assert parse_dockerfile(service.dockerfile)[-1].last("HEALTHCHECK")


def test_public_ports() -> None:
    published = {
        port: name for name, spec in COMPOSE_SERVICES.items() for port in published_ports(spec)
    }
    assert set(published) == PUBLIC_PORTS
    assert published[9000] == "gateway-lb"
    assert published[15672] == "rabbitmq"
    assert built_service(COMPOSE_SERVICES[published[8080]]).name == "command-api"
    assert built_service(COMPOSE_SERVICES[published[8090]]).name == "roaming"


def test_roaming_hands_parties_the_published_ocpi_url() -> None:
    spec = COMPOSE_SERVICES["roaming"]
    settings = load_settings(service_by_script("roaming"), environment(spec))
    url = urlsplit(settings.public_url)  # type: ignore[attr-defined]
    assert (url.hostname, url.port, url.path) == ("localhost", 8090, "/ocpi")
    assert url.port in published_ports(spec)


def test_start_order() -> None:
    for name, spec in COMPOSE_SERVICES.items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends.items():
            condition = rule["condition"]
            target = COMPOSE_SERVICES[dependency]
            if condition == "service_healthy":
                has_check = "healthcheck" in target and not target["healthcheck"].get("disable")
                image_check = "build" in target and parse_dockerfile(
                    built_service(target).dockerfile
                )[-1].last("HEALTHCHECK")
                assert has_check or image_check, f"{name} waits on {dependency}'s health"
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert target.get("restart") == "no", f"{dependency} is one-shot"


@pytest.mark.parametrize("name", [n for n in BUILT if not n.endswith("-migrate")])
def test_each_database_service_waits_for_its_migration(name: str) -> None:
    spec = COMPOSE_SERVICES[name]
    service = built_service(spec)
    settings = service.settings_class()
    migrations = [
        dep
        for dep, rule in spec.get("depends_on", {}).items()
        if rule["condition"] == "service_completed_successfully"
    ]
    if "database_url" not in settings.model_fields:
        assert not migrations, f"{name} has no database"
        return
    assert len(migrations) == 1, f"{name} starts after `{service.script} migrate`"
    migration = COMPOSE_SERVICES[migrations[0]]
    assert migration["command"] == [service.script, "migrate"]
    assert migration["image"] == spec["image"]
    assert migration["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        environment(migration)[f"{settings.model_config['env_prefix']}DATABASE_URL"]
        == environment(spec)[f"{settings.model_config['env_prefix']}DATABASE_URL"]
    )


@pytest.mark.parametrize("name", [n for n in BUILT if not n.endswith("-migrate")])
def test_every_process_stops_within_its_grace_period(name: str) -> None:
    """Even with its broker and database silent: SIGKILL cuts nothing a stop still does."""
    service = built_service(COMPOSE_SERVICES[name])
    settings = load_settings(service, environment(COMPOSE_SERVICES[name]))
    assert worst_stop(service.name, settings) < stop_grace(COMPOSE_SERVICES[name])


def test_gateway_fleet_drains_before_it_is_killed() -> None:
    spec = COMPOSE_SERVICES["ws-gateway"]
    assert spec["deploy"]["replicas"] >= 2
    settings = load_settings(service_by_script("ws-gateway"), environment(spec))
    assert settings.drain_timeout < stop_grace(spec)  # type: ignore[attr-defined]
    # 65536 unless the operator lowers it for a runtime with a lower hard limit of its own.
    assert int(interpolate(str(spec["ulimits"]["nofile"]["soft"]), SHELL_ENV)) >= 65536
    assert "ports" not in spec, "charge points reach the gateways through gateway-lb only"


def test_load_balancer_config_matches_the_gateways() -> None:
    from ws_gateway.server import OCPP_PATH

    conf = NGINX.read_text()
    lb = COMPOSE_SERVICES["gateway-lb"]
    assert any(v.startswith("./deploy/compose/nginx.conf:") for v in lb["volumes"])
    assert re.search(r"listen\s+9000;", conf)
    gateway_port = load_settings(
        service_by_script("ws-gateway"), environment(COMPOSE_SERVICES["ws-gateway"])
    ).port  # type: ignore[attr-defined]
    assert re.search(rf"server\s+ws-gateway:{gateway_port}\s+resolve;", conf)
    assert "least_conn;" in conf
    # The charge points' port proxies nothing but /ocpp/; probes go to the gateways' internal
    # port from a listener compose does not publish.
    public = re.search(r"listen\s+9000;(.*?)\n    \}", conf, re.S)
    assert public
    assert re.findall(r"proxy_pass\s+(\S+);", public.group(1)) == ["http://ws_gateways"]
    for path in ("/healthz", "/readyz", "/metrics"):
        assert path not in public.group(1)
    internal = load_settings(
        service_by_script("ws-gateway"), environment(COMPOSE_SERVICES["ws-gateway"])
    ).internal_port  # type: ignore[attr-defined]
    assert re.search(rf"server\s+ws-gateway:{internal}\s+resolve;", conf)
    check = " ".join(lb["healthcheck"]["test"])
    listener = re.search(r"127\.0\.0\.1:(\d+)/healthz", check)
    assert listener and re.search(rf"listen\s+{listener.group(1)};", conf)
    assert int(listener.group(1)) not in published_ports(lb)
    location = re.search(rf"location {re.escape(OCPP_PATH)} \{{(.*?)\}}", conf, re.S)
    assert location, f"a location for {OCPP_PATH}"
    body = location.group(1)
    assert "proxy_http_version 1.1;" in body
    assert re.search(r"proxy_set_header Upgrade \$http_upgrade;", body)
    assert re.search(r"proxy_set_header Connection \$connection_upgrade;", body)
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        value = re.search(rf"{directive} (\d+)s;", body)
        assert value and int(value.group(1)) >= 3600, directive


def test_database_roles_exist_for_every_url() -> None:
    import importlib

    sql = POSTGRES_INIT.read_text()
    postgres = COMPOSE_SERVICES["postgres"]
    assert any(v.startswith("./deploy/compose/postgres-init.sql:") for v in postgres["volumes"])
    database = postgres["environment"]["POSTGRES_DB"]
    checked = 0
    for name in BUILT:
        service = built_service(COMPOSE_SERVICES[name])
        for key, value in environment(COMPOSE_SERVICES[name]).items():
            if not key.endswith("DATABASE_URL"):
                continue
            url = urlsplit(value)
            assert url.hostname == "postgres" and url.path == f"/{database}"
            assert f"CREATE ROLE {url.username} LOGIN PASSWORD '{url.password}';" in sql
            schema = importlib.import_module(f"{service.package}.db").SCHEMA
            assert f"CREATE SCHEMA {schema} AUTHORIZATION {url.username};" in sql
            grant = re.search(rf"GRANT CONNECT, CREATE ON DATABASE {database} TO ([\w, ]+);", sql)
            assert grant and url.username in grant.group(1).replace(" ", "").split(",")
            checked += 1
    assert checked >= 2 * sum(
        1 for s in services().values() if "database_url" in s.settings_class().model_fields
    )


def test_each_process_logs_in_as_its_roles_broker_user() -> None:
    for name in BUILT:
        if name.endswith("-migrate"):
            continue
        service = built_service(COMPOSE_SERVICES[name])
        role = "gateway" if service.name == "ws-gateway" else service.name
        settings = load_settings(service, environment(COMPOSE_SERVICES[name]))
        url = urlsplit(settings.broker_url)
        assert (url.hostname, url.port) == ("rabbitmq", 5672)
        assert (url.username, url.password) == (f"csms-{role}", f"pw-{role}")
        assert settings.broker_users[role] == f"csms-{role}"


def test_broker_users_come_from_the_script_with_no_default_passwords() -> None:
    init = COMPOSE_SERVICES["broker-users"]
    assert "./scripts/broker_users.py:/opt/broker_users.py:ro" in init["volumes"]
    for variable, raw in init["environment"].items():
        assert variable.startswith("CSMS_BROKER_"), variable
        with pytest.raises(KeyError):
            interpolate(raw, {})
    rabbit = COMPOSE_SERVICES["rabbitmq"]
    assert "RABBITMQ_DEFAULT_PASS" not in rabbit.get("environment", {})
    assert rabbit["depends_on"]["broker-users"]["condition"] == "service_completed_successfully"
    # The management UI answers this host only.
    assert rabbit["ports"] == ["127.0.0.1:15672:15672"]


def test_admin_key_must_come_from_the_operator() -> None:
    raw = COMPOSE_SERVICES["command-api"]["environment"]["CSMS_ADMIN_API_KEY"]
    with pytest.raises(KeyError):
        interpolate(raw, {})

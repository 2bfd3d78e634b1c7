"""The Dockerfile, read without a Docker engine: stages, user, health check, signals, context."""

from __future__ import annotations

import datetime
import fnmatch
import http.server
import os
import re
import resource
import ssl
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.support import (
    EXPECTED_PORTS,
    INTERNAL_PORTS,
    ROOT,
    Service,
    copy_sources,
    exec_form,
    healthcheck_command,
    load_settings,
    parse_dockerfile,
    readable_env,
    services,
)

SERVICES = sorted(services())
DOCKERFILE = ROOT / "Dockerfile"


def python_minor() -> str:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.search(r"3\.\d+", requires)
    assert match, requires
    return match.group(0)


def test_one_dockerfile_builds_every_service() -> None:
    assert set(SERVICES) == set(INTERNAL_PORTS), "a new service needs a row in INTERNAL_PORTS"
    assert DOCKERFILE.is_file()
    assert not list((ROOT / "services").glob("*/Dockerfile")), "one Dockerfile, SERVICE picks"
    assert all(services()[name].dockerfile == DOCKERFILE for name in SERVICES)
    for stage in parse_dockerfile(DOCKERFILE):
        assert "SERVICE" in stage.all("ARG"), f"stage {stage.name}: ARG SERVICE"


def with_service(args: str, name: str) -> str:
    """An instruction's arguments as the build of `name`'s image reads them."""
    return args.replace("${SERVICE}", name).replace("$SERVICE", name)


@pytest.mark.parametrize("name", SERVICES)
def test_build_stage_installs_the_locked_workspace(name: str) -> None:
    stages = parse_dockerfile(DOCKERFILE)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    build_runs = with_service(" ".join(" ".join(stage.all("RUN")) for stage in stages[:-1]), name)
    assert re.search(rf"uv sync --frozen --no-dev .*--package {name}\b", build_runs)
    assert "--no-editable" in build_runs, "the runtime stage must not need the sources"
    # The image's default command is the service's console script.
    assert f"ln -s {name} /opt/venv/bin/csms-service" in build_runs
    runtime = stages[-1]
    assert re.fullmatch(rf"python:{re.escape(python_minor())}-slim(-\w+)?", runtime.base)
    assert any("--from=" in copy for copy in runtime.all("COPY"))


def test_runtime_runs_the_console_script_as_non_root() -> None:
    runtime = parse_dockerfile(DOCKERFILE)[-1]
    user = runtime.last("USER")
    assert user is not None
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root uid (runAsNonRoot can verify it)"
    cmd = exec_form(runtime.last("CMD") or "")
    assert cmd == ["csms-service"], "exec form, so SIGTERM reaches the process"
    assert runtime.last("STOPSIGNAL") in (None, "SIGTERM")
    assert "CSMS_SERVICE=${SERVICE}" in " ".join(runtime.all("ENV"))
    entrypoint = runtime.last("ENTRYPOINT")
    if entrypoint is not None:
        words = exec_form(entrypoint)
        assert words is not None, "ENTRYPOINT in exec form"
        # A shell wrapper must hand PID 1 over to the service.
        assert words[:2] == ["/bin/sh", "-c"] and words[2].rstrip().endswith('exec "$0" "$@"')


@pytest.mark.parametrize("name", SERVICES)
def test_healthcheck_uses_the_service_port(name: str) -> None:
    service = services()[name]
    settings = service.settings_class()
    runtime = parse_dockerfile(DOCKERFILE)[-1]
    internal = settings.model_fields[service.port_field()].default
    assert internal == INTERNAL_PORTS[name]
    public_field = service.public_port_field()
    public = [settings.model_fields[public_field].default] if public_field else []
    assert public == ([EXPECTED_PORTS[name]] if name in EXPECTED_PORTS else [])
    # No EXPOSE: one image file serves four port sets; compose and k8s declare each service's.
    assert runtime.all("EXPOSE") == []
    healthcheck = runtime.last("HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck_command(healthcheck)
    assert command[:2] == ["python", "-c"]
    # This service's entry: the internal port, plain HTTP, by every name the settings read it.
    entry = re.search(rf"'{name}': lambda: ([^}}]*?)(?:, '[a-z-]+': lambda|}})", command[2])
    assert entry, f"no health check entry for {name}"
    prefix = str(settings.model_config.get("env_prefix", ""))
    assert f"e.get('{prefix}INTERNAL_PORT'" in entry.group(1)
    names = {n for n, field in readable_env(settings).items() if field == "internal_port"}
    assert names <= set(re.findall(r"'(\w+_PORT)'", entry.group(1)))
    assert f"'{internal}'" in entry.group(1)
    assert "'http://127.0.0.1:%s/healthz'" in command[2]


class _Probe(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def probe_server(status: int, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    handler = type("Handler", (_Probe,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(service: Service, port: int, **extra_env: str) -> int:
    runtime = parse_dockerfile(DOCKERFILE)[-1]
    command = healthcheck_command(runtime.last("HEALTHCHECK") or "")
    settings = service.settings_class()
    port_var = f"{settings.model_config.get('env_prefix', '')}INTERNAL_PORT"
    env = {**os.environ, "CSMS_SERVICE": service.name, port_var: str(port), **extra_env}
    return subprocess.run(
        [sys.executable, *command[1:]], env=env, timeout=10, capture_output=True
    ).returncode


@pytest.mark.parametrize("name", SERVICES)
def test_healthcheck_command_passes_on_200_and_fails_otherwise(name: str) -> None:
    service = services()[name]
    with probe_server(200) as port:
        assert run_healthcheck(service, port) == 0
    with probe_server(503) as port:
        assert run_healthcheck(service, port) != 0


def self_signed(directory: Path) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "gateway")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_gateway_healthcheck_stays_plain_http_when_the_gateway_speaks_tls(tmp_path: Path) -> None:
    # TLS is for the charge points' port; the internal port is plain HTTP either way.
    service = services()["ws-gateway"]
    cert_file, _ = self_signed(tmp_path)
    with probe_server(200) as port:
        assert run_healthcheck(service, port, GATEWAY_TLS_CERT_FILE=str(cert_file)) == 0


@pytest.mark.parametrize("name", ["station-registry", "session-service"])
def test_healthcheck_follows_the_old_http_port_variable_too(name: str) -> None:
    # Deployments that still set <PREFIX>HTTP_PORT: the settings read it, so must the check.
    service = services()[name]
    settings = service.settings_class()
    old = f"{settings.model_config.get('env_prefix', '')}HTTP_PORT"
    with probe_server(200) as port:
        env = {**os.environ, "CSMS_SERVICE": name, old: str(port)}
        runtime = parse_dockerfile(DOCKERFILE)[-1]
        command = healthcheck_command(runtime.last("HEALTHCHECK") or "")
        done = subprocess.run([sys.executable, *command[1:]], env=env, timeout=10)
        assert done.returncode == 0


def test_gateway_entrypoint_lifts_nofile_and_execs() -> None:
    runtime = parse_dockerfile(DOCKERFILE)[-1]
    entrypoint = exec_form(runtime.last("ENTRYPOINT") or "")
    assert entrypoint is not None
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard <= 256:
        pytest.skip("hard nofile limit too low to observe a raise")

    def lower_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    probe = "import os, resource; print(os.getpid(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    process = subprocess.Popen(
        [*entrypoint, sys.executable, "-c", probe],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lower_soft_limit,
    )
    out, _ = process.communicate(timeout=10)
    pid, limit = out.split()
    assert int(pid) == process.pid, "the shell must exec the service (PID 1 gets SIGTERM)"
    assert int(limit) == hard


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore `patterns` keep `path` (or a parent folder) out of the context."""
    parts = path.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):  # at any depth
            spans = [
                "/".join(parts[i:j])
                for i in range(len(parts))
                for j in range(i + 1, len(parts) + 1)
            ]
            hit = any(fnmatch.fnmatchcase(span, pattern[3:]) for span in spans)
        else:  # from the context root
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            result = not negate
    return result


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", ".tools", "shared/tests", "shared/src/a/__pycache__/b.pyc"):
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "uv.lock", "shared/src/csms_shared/settings.py"):
        assert not ignored(path, patterns), path


@pytest.mark.parametrize("name", SERVICES)
def test_copied_paths_exist_in_the_context(name: str) -> None:
    patterns = dockerignore_patterns()
    for stage in parse_dockerfile(DOCKERFILE):
        for copy in stage.all("COPY"):
            for source in copy_sources(with_service(copy, name)) or []:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"
                assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize(
    ("name", "prefix", "default"),
    [("station-registry", "REGISTRY_", 8081), ("session-service", "SESSION_", 8082)],
)
def test_old_http_port_variables_still_set_the_internal_port(
    name: str, prefix: str, default: int
) -> None:
    service = services()[name]
    assert load_settings(service, {f"{prefix}HTTP_PORT": "9101"}).internal_port == 9101  # type: ignore[attr-defined]
    both = {f"{prefix}HTTP_PORT": "9101", f"{prefix}INTERNAL_PORT": "9102"}
    assert load_settings(service, both).internal_port == 9102  # type: ignore[attr-defined]
    # Only the service's own names: a bare INTERNAL_PORT (another program's) is not read.
    assert load_settings(service, {"INTERNAL_PORT": "9103"}).internal_port == default  # type: ignore[attr-defined]

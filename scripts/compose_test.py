"""`make compose-test`: the Dockerfile and docker-compose.yml really started, with podman.

    .venv/bin/python scripts/compose_test.py [--keep]

Steps, each timed: install podman, runc, docker-compose and debootstrap (apt, once); build the
base-image stand-ins (scripts/base_images.sh, cached); build the service images from the one
Dockerfile; serve podman's Docker API on a socket of its own and `docker-compose up` the suite
against it; wait for every service to be healthy; the smoke (scripts/compose_smoke.py), and
roaming's published OCPI port asking for a token; scale the gateways to 3 and SIGTERM one; then
`docker-compose down -v` (volumes too), unless --keep. Needs root (rootful podman). Ports
8080, 8090, 9000 and 15672 must be free.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import compose_smoke
import yaml

from csms_shared.bus.access import ROLES

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "csms"
SOCKET_DIR = Path("/run/csms-compose-test")
APT_PACKAGES = ["podman", "runc", "docker-compose", "debootstrap"]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())
TAG = "dev"
TIMINGS: list[tuple[str, float]] = []


def log(message: str) -> None:
    print(f"compose-test: {message}", flush=True)


@contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    log(f"-- {name}")
    yield
    TIMINGS.append((name, time.monotonic() - started))
    log(f"   {name}: {TIMINGS[-1][1]:.1f} s")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900, show: bool = False
) -> str:
    """Run a command; its output on failure, in the error (`show`: its stderr as it comes)."""
    stderr = None if show else subprocess.PIPE
    done = subprocess.run(
        args, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        output = done.stdout + (done.stderr or "")
        raise SystemExit(f"compose-test: {' '.join(args)} exited {done.returncode}\n{output}")
    return done.stdout


def install() -> None:
    """The apt packages, installed only when one is missing."""
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}\n", *APT_PACKAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    if status.stdout.split() == ["installed"] * len(APT_PACKAGES):
        return
    log(f"apt-get install {' '.join(APT_PACKAGES)}")
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-q", env=apt)
    run("apt-get", "install", "-y", "-q", *APT_PACKAGES, env=apt)


def ports_free() -> None:
    for port in (8080, 8090, 9000, 15672):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"compose-test: port {port} is taken; compose publishes it")


def suite_env() -> dict[str, str]:
    """The environment for podman and compose: the stand-ins, fresh secrets, the socket."""
    env = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy/compose/containers.conf")}
    for line in run(str(ROOT / "scripts/base_images.sh"), "env").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    env["CSMS_ADMIN_API_KEY"] = "csms_compose_" + secrets.token_urlsafe(24)
    env["CSMS_BROKER_ADMIN_PASSWORD"] = secrets.token_hex(16)
    for role in ROLES:
        env[f"CSMS_BROKER_PASSWORD_{role.upper().replace('-', '_')}"] = secrets.token_hex(16)
    env["CSMS_TAG"] = TAG
    env["DOCKER_HOST"] = f"unix://{SOCKET_DIR}/podman.sock"
    env["COMPOSE_PROJECT_NAME"] = PROJECT
    env["COMPOSE_HTTP_TIMEOUT"] = "300"
    return env


def container_limits(env: dict[str, str]) -> tuple[int, int]:
    """The hard nofile and nproc limits a container gets here: runc cannot set more."""
    probe = (
        "import resource as r; "
        "print(*(r.getrlimit(k)[1] for k in (r.RLIMIT_NOFILE, r.RLIMIT_NPROC)))"
    )
    out = run("podman", "run", "--rm", "--network=none", env["CSMS_PYTHON_IMAGE"], "python3", "-c",
              probe, env=env)  # fmt: skip
    nofile, nproc = map(int, out.split())
    return nofile, nproc


def build_services(env: dict[str, str]) -> None:
    commit = run("git", "-C", str(ROOT), "rev-parse", "HEAD").strip()
    for service in SERVICES:
        started = time.monotonic()
        run(
            # Docker's image format: the OCI one has no HEALTHCHECK, podman would drop it.
            "podman", "build", "--quiet", "--format", "docker", "--file", str(ROOT / "Dockerfile"),
            "--build-arg", f"SERVICE={service}",
            "--build-arg", f"PYTHON_IMAGE={env['CSMS_PYTHON_IMAGE']}",
            "--build-arg", f"CSMS_BUILD_COMMIT={commit}",
            "--tag", f"csms/{service}:{TAG}", str(ROOT),
            env=env,
        )  # fmt: skip
        log(f"   csms/{service}:{TAG} in {time.monotonic() - started:.1f} s")


class PodmanService:
    """`podman system service` on a socket of its own: the Docker API docker-compose talks to."""

    def __init__(self, env: dict[str, str]) -> None:
        SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        self.socket = SOCKET_DIR / "podman.sock"
        self.socket.unlink(missing_ok=True)
        self.log = (SOCKET_DIR / "podman-service.log").open("w")
        self.process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"compose-test: podman system service did not start: {self.log}")
            time.sleep(0.2)

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as raw:
                raw.connect(str(self.socket))
                connection = http.client.HTTPConnection("localhost")
                connection.sock = raw
                connection.request("GET", "/_ping")
                return connection.getresponse().status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class HealthTicker(threading.Thread):
    """Runs the containers' health checks, as systemd timers would: podman schedules them with
    systemd, and without systemd they never run, so no container would ever be healthy."""

    def __init__(self, env: dict[str, str], every: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.env, self.every = env, every
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            ids = subprocess.run(
                ["podman", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                env=self.env, capture_output=True, text=True, check=False,
            ).stdout.split()  # fmt: skip
            for container in ids:
                # A container being stopped can hold its check past the timeout: that check
                # is lost, the next round runs (an exception here would end every later one).
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run(
                        ["podman", "healthcheck", "run", container],
                        env=self.env, capture_output=True, check=False, timeout=30,
                    )  # fmt: skip


def compose_file() -> Path:
    """docker-compose.yml as Debian's docker-compose 1.29 takes it: without the top-level
    `name` (the Compose Specification's, newer than 1.29), which `-p csms` gives instead."""
    lines = (ROOT / "docker-compose.yml").read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.rstrip() != f"name: {PROJECT}"]
    if len(kept) != len(lines) - 1:
        raise SystemExit(f"compose-test: docker-compose.yml should say `name: {PROJECT}` once")
    copy = SOCKET_DIR / "docker-compose.yml"
    copy.write_text("".join(kept))
    return copy


def host_limits_file(nproc: int) -> Path:
    """An override for the services that set ulimits: rootful podman 4.3 then also sets
    RLIMIT_NPROC, to 1048576, which runc cannot do above the limit containers get here."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    limited = [name for name, service in spec["services"].items() if "ulimits" in service]
    override = {
        "services": {
            name: {"ulimits": {"nproc": {"soft": nproc, "hard": nproc}}} for name in limited
        }
    }
    path = SOCKET_DIR / "host-limits.yml"
    path.write_text(yaml.safe_dump(override))
    return path


def compose_args(env: dict[str, str], *args: str) -> list[str]:
    limits = host_limits_file(int(env["CSMS_COMPOSE_TEST_NPROC"]))
    return ["docker-compose", "--project-name", PROJECT, "--project-directory", str(ROOT),
            "--file", str(compose_file()), "--file", str(limits), *args]  # fmt: skip


def compose(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    return run(*compose_args(env, *args), env=env, timeout=timeout)


def gateway_containers(env: dict[str, str]) -> dict[str, str]:
    """Running gateway containers: hostname (the start of its instance id) -> container name."""
    names = run(
        "podman", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", "label=com.docker.compose.service=ws-gateway", "--format", "{{.Names}}",
        env=env,
    ).split()  # fmt: skip
    hostnames = {}
    for name in names:
        hostname = run("podman", "inspect", "--format", "{{.Config.Hostname}}", name, env=env)
        hostnames[hostname.strip()] = name
    return hostnames


def wait_healthy(env: dict[str, str], service: str, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        healthy = run(
            "podman", "ps", "--filter", f"label=com.docker.compose.service={service}",
            "--filter", "health=healthy", "-q", env=env,
        ).split()  # fmt: skip
        if len(healthy) >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"compose-test: {len(healthy)} of {count} {service} healthy")
        time.sleep(1)


def ocpi_asks_for_a_token(timeout: float = 60) -> None:
    """roaming's published port: OCPI's versions endpoint refuses a call without a token.
    Healthy says its probes answer (internal port, up first); the OCPI port opens after, so
    a refused connection is tried again, as a party would, until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("localhost", 8090, timeout=10)
        try:
            connection.request("GET", "/ocpi/versions")
            status = connection.getresponse().status
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            connection.close()
    if status != 401:
        raise SystemExit(f"compose-test: GET :8090/ocpi/versions without a token: {status}")


def smoke(env: dict[str, str]) -> None:
    async def checks() -> None:
        api = compose_smoke.Api(env["CSMS_ADMIN_API_KEY"])
        try:
            with phase("smoke: boot, command, transaction, console"):
                await compose_smoke.boot_command_transaction_console(api, log)
            with phase("scale the gateways to 3"):
                compose(env, "up", "-d", "--no-build", "--no-deps", "--scale", "ws-gateway=3",
                        "ws-gateway")  # fmt: skip
                await asyncio.to_thread(wait_healthy, env, "ws-gateway", 3)

            async def stop_gateway(instance: str) -> None:
                containers = gateway_containers(env)
                name = next((n for h, n in containers.items() if instance.startswith(h)), None)
                if name is None:
                    raise compose_smoke.SmokeError(f"no container for {instance}: {containers}")
                log(f"   podman stop (SIGTERM) {name}")
                await asyncio.to_thread(run, "podman", "stop", "--time", "20", name, env=env)

            with phase("SIGTERM one gateway of 3; its CPs reconnect through the others"):
                await compose_smoke.fleet_survives_a_gateway_stop(api, stop_gateway, log, 3)
        finally:
            await api.close()

    asyncio.run(checks())


def broker_refusals(env: dict[str, str]) -> None:
    """What the broker refused the services' users, from its log: a refused publish loses
    events (fails the test); other refusals are printed (docs/deploy.md lists the known one)."""
    service = "label=com.docker.compose.service=rabbitmq"
    name = run("podman", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
               "--filter", service, env=env).split()  # fmt: skip
    output = subprocess.run(
        ["podman", "logs", *name[:1]], env=env, capture_output=True, text=True, check=False
    )
    refused = sorted(
        {
            line.split("caused a channel exception ", 1)[1]
            for line in (output.stdout + output.stderr).splitlines()
            if "caused a channel exception access_refused" in line
        }
    )
    for reason in refused:
        log(f"   broker refused: {reason}")
    published = [reason for reason in refused if "write access" in reason]
    if published:
        raise SystemExit(f"compose-test: the broker refused {len(published)} kinds of publish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the suite running")
    keep = parser.parse_args().keep
    if os.geteuid() != 0:
        raise SystemExit("compose-test: needs root (apt-get, debootstrap, rootful podman)")
    started = time.monotonic()
    with phase("install podman, runc, docker-compose, debootstrap"):
        install()
    ports_free()
    env = suite_env()
    with phase("base-image stand-ins (scripts/base_images.sh)"):
        run(str(ROOT / "scripts/base_images.sh"), "build", env=env, timeout=1800, show=True)
    # A runtime cannot give a container more than it has itself (compose asks 65536 files).
    nofile, nproc = container_limits(env)
    env["CSMS_NOFILE"] = str(min(65536, nofile))
    env["CSMS_COMPOSE_TEST_NPROC"] = str(nproc)
    log(f"   containers here get at most {nofile} open files and {nproc} processes")
    with phase("service images from the one Dockerfile"):
        build_services(env)
    service = PodmanService(env)
    ticker = HealthTicker(env)
    ticker.start()
    failed = True
    try:
        with phase("docker-compose up: every service healthy"):
            compose(env, "up", "-d", "--no-build")
            for name in ("command-api", "roaming", "gateway-lb"):
                wait_healthy(env, name, 1)
        with phase("roaming: OCPI on the published port 8090"):
            ocpi_asks_for_a_token()
        smoke(env)
        broker_refusals(env)
        failed = False
    finally:
        if failed:
            log("failed; the last lines of every container's log:")
            subprocess.run(
                compose_args(env, "logs", "--tail", "25", "--no-color"), env=env, check=False
            )
        if not keep:
            with phase("docker-compose down -v"):
                compose(env, "down", "--volumes", "--remove-orphans", "--timeout", "30")
        ticker.halt.set()
        service.stop()
    for name, seconds in TIMINGS:
        log(f"{seconds:7.1f} s  {name}")
    log(f"{time.monotonic() - started:7.1f} s  in all: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

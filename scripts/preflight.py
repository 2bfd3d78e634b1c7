"""Make sure RabbitMQ and Postgres answer before the suite starts.

With `--start` (what `make up` runs), a server that does not answer is started: the local one
when it is installed (as .ci/run does), else the image the compose file names in a container
(docker, else podman), published on the loopback port `make up` uses; the script says which it
chose. Without a way to start it, it says how to.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from csms_shared.settings import DEFAULT_BROKER_URL, DEFAULT_DATABASE_URL

LOCAL_DEFAULTS = ("127.0.0.1", "localhost", "::1")
WAIT_SECONDS = 90


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    port: int
    # How to start the locally installed server, and the program that says it is installed.
    local: list[str]
    installed: str
    # The compose file's image (its variable and default) and how to run it for `make up`.
    image_variable: str
    image_default: str
    container: list[str]

    @property
    def image(self) -> str:
        return os.environ.get(self.image_variable) or self.image_default


def postgres_cluster() -> list[str]:
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        return []
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"]


def servers() -> list[Server]:
    broker = os.environ.get("CSMS_BROKER_URL", DEFAULT_BROKER_URL)
    database = os.environ.get("CSMS_DATABASE_URL", DEFAULT_DATABASE_URL)
    return [
        Server(
            "RabbitMQ",
            broker,
            urlsplit(broker).port or 5672,
            ["rabbitmq-server", "-detached"],
            "rabbitmq-server",
            "CSMS_RABBITMQ_IMAGE",
            "rabbitmq:4.3-management-alpine",
            # guest may log in from the host too (the container's loopback is not the host's).
            ["-e", "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-rabbit loopback_users []"],
        ),
        Server(
            "PostgreSQL",
            database,
            urlsplit(database).port or 5432,
            postgres_cluster(),
            "pg_ctlcluster",
            "CSMS_POSTGRES_IMAGE",
            "postgres:16-alpine",
            ["-e", "POSTGRES_USER=postgres", "-e", "POSTGRES_HOST_AUTH_METHOD=trust"],
        ),
    ]


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def start(server: Server) -> str | None:
    """Start `server`; what was done, or None when there is no way here."""
    host = urlsplit(server.url).hostname or "127.0.0.1"
    if host not in LOCAL_DEFAULTS:
        return None  # somebody else's server: not ours to start
    if server.local and shutil.which(server.installed):
        subprocess.run(server.local, check=True)
        return f"the local {server.name} ({' '.join(server.local)})"
    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None:
        return None
    name = f"csms-dev-{server.name.lower()}"
    # An earlier `make up`'s container is started again rather than made anew.
    if subprocess.run([engine, "start", name], capture_output=True).returncode != 0:
        published = f"127.0.0.1:{server.port}:{5672 if server.name == 'RabbitMQ' else 5432}"
        subprocess.run(
            [engine, "run", "-d", "--name", name, "-p", published, *server.container, server.image],
            check=True,
        )
    return f"{server.name} in a container ({Path(engine).name}, image {server.image}, {name})"


def wait(server: Server) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if reachable(server.url, server.port):
            if server.name == "RabbitMQ" and shutil.which("rabbitmqctl"):
                # The port opens before the broker takes logins.
                subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=60)
            return True
        time.sleep(1)
    return False


def main() -> int:
    missing = [s for s in servers() if not reachable(s.url, s.port)]
    failed = []
    for server in missing:
        try:
            how = start(server) if "--start" in sys.argv else None
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"error: starting {server.name} failed: {exc}", file=sys.stderr)
            how = None
        if how is not None:
            print(f"csms: {server.name} did not answer; starting {how}", file=sys.stderr)
            if wait(server):
                continue
            print(f"error: {server.name} did not answer within {WAIT_SECONDS} s", file=sys.stderr)
        failed.append(server)
    for server in failed:
        parts = urlsplit(server.url)
        safe = parts._replace(netloc=parts.hostname or "").geturl()
        print(f"error: {server.name} is not reachable at {safe}", file=sys.stderr)
        if server.local:
            print(f"  start it with: {' '.join(server.local)}", file=sys.stderr)
        print(
            f"  or install docker or podman (`make up` then runs {server.image}),"
            " or point CSMS_BROKER_URL / CSMS_DATABASE_URL elsewhere",
            file=sys.stderr,
        )
    if failed:
        return 1
    if "--banner" in sys.argv:
        banner()
    return 0


def banner() -> None:
    key = os.environ.get("CSMS_ADMIN_API_KEY", "")
    password = os.environ.get("CSMS_ADMIN_PASSWORD", "")
    api = f"http://127.0.0.1:{os.environ.get('API_HTTP_PORT') or 8080}"
    ocpi = os.environ.get("ROAMING_PUBLIC_URL") or "http://127.0.0.1:8090/ocpi"
    print(
        "csms: charge points connect to ws://127.0.0.1:9000/ocpp/{id} or"
        " ws://127.0.0.1:9001/ocpp/{id} (subprotocol ocpp2.0.1 or ocpp1.6)\n"
        f"csms: operators use {api}/api/v1 (OpenAPI at {api}/docs)"
        f" with the admin key:\n\n    export CSMS_ADMIN_API_KEY={key}\n\n"
        f"csms: the operator console is at {api}/ ; log in as admin with"
        f" the password:\n\n    {password}\n\n"
        "    (change it in the console: Password; CSMS_ADMIN_PASSWORD only makes the first"
        " admin)\n\n"
        f"csms: eMSPs and hubs reach the OCPI 2.2.1 interface at {ocpi}/versions (roaming)\n"
        "csms: /healthz /readyz /metrics only on the internal ports: gateways 8084 and 8085,"
        " station-registry 8081, session-service 8082, command-api 8083, message-log 8086,"
        " load-manager 8087, roaming 8088\n"
        "csms: DEVELOPMENT SECURITY: any charge point id connects without credentials and can"
        " take over another's connection (REGISTRY_MIN_SECURITY_PROFILE="
        f"{os.environ.get('REGISTRY_MIN_SECURITY_PROFILE', '0')},"
        " REGISTRY_UNKNOWN_CHARGE_POINTS="
        f"{os.environ.get('REGISTRY_UNKNOWN_CHARGE_POINTS', 'accept')}); never expose this"
        " setup, see docs/security.md\n"
        "csms: Ctrl-C stops everything."
    )


if __name__ == "__main__":
    sys.exit(main())

"""A RabbitMQ node and a Postgres cluster of the chaos run's own, so that it can stop them.

The machine's RabbitMQ and Postgres serve every other test run; stopping them would break
those. The chaos run starts a second RabbitMQ node (same installed version, its own node name,
ports and data directory) and a second Postgres cluster (initdb into a temporary directory, its
own port), and deletes both at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

RABBITMQ_BIN = Path(os.environ.get("CHAOS_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def free_port() -> int:
    """A TCP port nobody uses now, below the ephemeral range: a server restarted minutes later
    must find its port free again, and the kernel hands ephemeral ports to outgoing
    connections (a restarted RabbitMQ failed with `dist_port_already_used` that way)."""
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1025, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait_port(port: int, up: bool, timeout: float) -> None:
    """Wait until 127.0.0.1:`port` accepts connections (`up`) or refuses them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} still {'down' if up else 'up'} after {timeout:.0f} s")


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, cwd="/", check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


class PrivateRabbit:
    """A RabbitMQ node of its own: `start`, `stop` (the whole Erlang node), `start` again."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"csms-chaos-{os.getpid()}@{socket.gethostname().split('.')[0]}"
        self.pid_file = base / "rabbit.pid"
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            # The suite's queues are quorum queues on this single node; nothing deprecated.
            "loopback_users.guest = true\n"
        )
        self.env = os.environ | {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }

    @property
    def url(self) -> str:
        """AMQP URL of the node's default vhost."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """rabbitmqctl against this node."""
        return _run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args], self.env, timeout)

    def start(self) -> None:
        """Start the node and wait until it takes AMQP connections."""
        _run([str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"], self.env)
        self.ctl("wait", str(self.pid_file), "--timeout", "120", timeout=150)
        wait_port(self.port, up=True, timeout=60)

    def stop(self) -> None:
        """Stop the node (every connection drops; durable queues and messages stay)."""
        self.ctl("stop", str(self.pid_file), timeout=120)
        wait_port(self.port, up=False, timeout=30)


class PrivatePostgres:
    """A Postgres cluster of its own, run as the `postgres` user (it refuses to run as root)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.data = base / "pgdata"
        self.bin = Path(os.environ.get("CHAOS_PG_BIN", _pg_bin()))
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
        self.options = (
            f"-p {self.port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=400"
            " -c fsync=on -c shared_buffers=128MB"
        )

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        _run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), *args], timeout=120)

    def init(self) -> None:
        """initdb with trust authentication for local connections."""
        _run(
            [
                *self._as,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        )

    def start(self) -> None:
        """Start the cluster and wait until it answers."""
        self._ctl("-o", self.options, "-l", str(self.base / "postgres.log"), "-w", "start")

    def restart_fast(self) -> None:
        """Restart with a fast shutdown: every session is cut, committed work stays."""
        self._ctl(
            "-o", self.options, "-l", str(self.base / "postgres.log"), "-m", "fast", "-w", "restart"
        )

    def stop(self) -> None:
        """Stop at once (the cluster is thrown away afterwards)."""
        self._ctl("-m", "immediate", "-w", "stop")


def _pg_bin() -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("no Postgres server binaries under /usr/lib/postgresql")
    return str(versions[-1].parent)


@contextlib.contextmanager
def private_servers(base: Path) -> Iterator[tuple[PrivateRabbit, PrivatePostgres]]:
    """A RabbitMQ node and a Postgres cluster of the run's own; both gone afterwards."""
    base.mkdir(parents=True, exist_ok=True)
    rabbit = PrivateRabbit(base / "rabbitmq")
    postgres = PrivatePostgres(base / "postgres")
    try:
        rabbit.start()
        postgres.init()
        postgres.start()
        yield rabbit, postgres
    finally:
        with contextlib.suppress(Exception):
            rabbit.stop()
        with contextlib.suppress(Exception):
            postgres.stop()
        shutil.rmtree(base, ignore_errors=True)

"""A Postgres primary and a streaming standby of the run's own, and the fail-over between them.

Two clusters on this machine (the installed Postgres binaries, `initdb` and `pg_basebackup -R`
into temporary directories, ports of their own; the machine's cluster on 5432 is never
touched). The standby streams WAL from the primary through a link the run can stall and cut
(chaos/pg_link.py). Synchronous (`synchronous_standby_names` names the standby,
`synchronous_commit=on`): a commit is acknowledged once the standby has flushed its WAL.
Asynchronous: at once. `fail_over` kills every process of the primary (SIGKILL, as a lost
machine: no shutdown checkpoint, no last WAL sent), cuts the link and promotes the standby.

Clients find the writable node with a multi-host DSN and `target_session_attrs=read-write`:
`sqlalchemy_url` as the services read it, `asyncpg_dsn` as asyncpg spells it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.infra import Infra

from .servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
STANDBY_NAME = "node_b"  # its cluster_name: the application_name it streams as


def _pg_bin() -> Path:
    configured = os.environ.get("CHAOS_PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("no Postgres server binaries under /usr/lib/postgresql")
    return versions[-1].parent


class PgNode:
    """One cluster: its data directory, port and log; run as the `postgres` user."""

    def __init__(self, base: Path, name: str, settings: dict[str, str]) -> None:
        self.base = base
        self.name = name
        self.data = base / "data"
        self.log = base / "postgres.log"
        self.port = free_port()
        self.settings = {"cluster_name": name} | settings
        self.bin = _pg_bin()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")

    def run(self, tool: str, *args: str, timeout: float = 120) -> str:
        """A Postgres program as the postgres user; its output, or RuntimeError."""
        argv = [*self.as_postgres, str(self.bin / tool), *args]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd="/", check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def sql(self, query: str) -> str:
        """One query's result through psql (unaligned, tuples only)."""
        return self.run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Atqc", query
        ).strip()

    @property
    def options(self) -> str:
        """The server's command-line options: this node's own, never copied to another."""
        settings = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        return (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=400"
            f" -c fsync=on -c shared_buffers=128MB -c wal_keep_size=512MB {settings}"
        )

    def initdb(self) -> None:
        """A new cluster, trust authentication for local connections (replication too)."""
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        """Start and wait until it answers."""
        self.run(
            "pg_ctl", "-D", str(self.data), "-o", self.options, "-l", str(self.log), "-w", "start"
        )

    def postmaster_pid(self) -> int:
        """The running postmaster's pid (first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> float:
        """SIGKILL the postmaster and every child (each in a session of its own, so one by
        one): all stopped first, the postmaster before it forks another. Returns the
        monotonic time by which every process was stopped: the primary's last moment."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGSTOP)
        children = _children(pid)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
        frozen = time.monotonic()
        for child in [*children, pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        wait_port(self.port, up=False, timeout=30)
        return frozen

    def promote(self) -> None:
        """`pg_ctl promote`, waiting until it takes writes."""
        self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "120", "promote")

    def stop(self) -> None:
        """Stop at once if it runs (the cluster is thrown away afterwards)."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class Link:
    """The replication link (chaos/pg_link.py): `pause` stalls it, `cut` kills it."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start forwarding and wait until it listens."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chaos.pg_link", str(self.port), str(self.target_port)],
            cwd=ROOT,
        )
        wait_port(self.port, up=True, timeout=30)

    def pause(self) -> None:
        """SIGSTOP: nothing passes until `resume` or `cut`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def cut(self) -> None:
        """SIGKILL: what it held is lost; the standby's reconnects are refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass(slots=True)
class Failover:
    """What `PgPair.fail_over` measured."""

    standby_lsn: str  # what the standby had replayed when it was promoted
    died_at: float  # monotonic time by which every process of the primary was stopped
    promoted_s: float  # from then until the standby took writes


class PgPair:
    """A primary (node_a) and a standby (node_b) streaming from it through a `Link`."""

    def __init__(self, base: Path, *, synchronous: bool) -> None:
        self.synchronous = synchronous
        primary = {"synchronous_commit": "on"}
        if synchronous:
            primary["synchronous_standby_names"] = STANDBY_NAME
        self.primary = PgNode(base / "node_a", "node_a", primary)
        # The standby's own settings name no synchronous standby: promoted with none left,
        # it must not wait on one (every commit would hang).
        self.standby = PgNode(base / "node_b", STANDBY_NAME, {})
        self.link = Link(self.primary.port)

    @property
    def sqlalchemy_url(self) -> str:
        """The services' `CSMS_DATABASE_URL`: both nodes, the writable one wins."""
        hosts = "&".join(f"host=127.0.0.1:{n.port}" for n in (self.primary, self.standby))
        return f"postgresql+asyncpg://postgres@/postgres?{hosts}&target_session_attrs=read-write"

    @property
    def asyncpg_dsn(self) -> str:
        """The same as asyncpg spells it (a comma-separated host list)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in (self.primary, self.standby))
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    def start(self, timeout: float = 120) -> None:
        """initdb the primary, start it, clone the standby through the link, stream."""
        self.primary.initdb()
        self.primary.start()
        self.link.start()
        self.standby.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.link.port), "-U", "postgres"),
            *("-D", str(self.standby.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        self.standby.start()
        want = "sync" if self.synchronous else "async"
        deadline = time.monotonic() + timeout
        query = (
            "SELECT sync_state FROM pg_stat_replication"
            f" WHERE application_name = '{STANDBY_NAME}' AND state = 'streaming'"
        )
        while (state := self.primary.sql(query)) != want:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"standby not streaming as {want} after {timeout:.0f} s: {state!r}"
                )
            time.sleep(0.2)

    def fail_over(self) -> Failover:
        """Kill the primary, cut the link, wait until the standby has replayed all it
        received, promote it."""
        died_at = self.primary.kill()
        self.link.cut()
        query = "SELECT pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn()"
        deadline = time.monotonic() + 120
        while self.standby.sql(query) != "t":
            if time.monotonic() > deadline:
                raise TimeoutError("the standby has not replayed what it received in 120 s")
            time.sleep(0.05)
        lsn = self.standby.sql("SELECT pg_last_wal_replay_lsn()")
        self.standby.promote()
        return Failover(lsn, died_at, time.monotonic() - died_at)

    def stop(self) -> None:
        """Stop both nodes and the link."""
        self.link.cut()
        self.standby.stop()
        self.primary.stop()


@dataclass(frozen=True)
class PairInfra(Infra):
    """`Infra` on a `PgPair`: asyncpg's DSN names both nodes too (`PgPair.asyncpg_dsn`)."""

    pair_dsn: str = ""

    @property
    def asyncpg_dsn(self) -> str:
        """Every node, the writable one wins."""
        return self.pair_dsn

"""`make up` starts what does not answer: the local servers when installed, else containers
(scripts/preflight.py), and says which it chose. Driven with stand-ins for the programs it
runs, each opening the port it was to start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A stand-in program: records how it was called, then listens on $PORT_<NAME> in the background.
STAND_IN = """#!/bin/sh
echo "${{0##*/}} $*" >> "{log}"
{python} -c 'import socket, sys, os, time
if os.fork(): sys.exit(0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port})); s.listen(); time.sleep(30)' >/dev/null 2>&1 </dev/null &
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stand_in(bin_dir: Path, name: str, port: int, log: Path) -> None:
    program = bin_dir / name
    program.write_text(STAND_IN.format(log=log, python=sys.executable, port=port))
    program.chmod(0o755)


def preflight(bin_dir: Path, broker: int, database: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # Only the stand-ins: no real rabbitmq-server, pg_ctlcluster, docker or podman.
        "PATH": str(bin_dir),
        "CSMS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker}/",
        "CSMS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{database}/postgres",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preflight.py"), "--start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not Path("/usr/bin/sh").exists(), reason="needs a POSIX shell")
def test_a_server_that_does_not_answer_is_started_in_a_container_and_said_so(
    tmp_path: Path,
) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    broker, database = free_port(), free_port()
    # No local servers installed here: docker runs the compose file's images.
    docker = bin_dir / "docker"
    docker.write_text(
        f"""#!/bin/sh
echo "docker $*" >> "{log}"
case "$1" in start) exit 1;; esac
case "$*" in *rabbitmq*) port={broker};; *) port={database};; esac
{sys.executable} -c 'import socket, sys, os, time
if os.fork(): sys.exit(0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' $port \
  >/dev/null 2>&1 </dev/null &
"""
    )
    docker.chmod(0o755)
    done = preflight(bin_dir, broker, database)
    assert done.returncode == 0, done.stderr
    assert "RabbitMQ in a container (docker, image rabbitmq:" in done.stderr
    assert "PostgreSQL in a container (docker, image postgres:" in done.stderr
    calls = log.read_text()
    assert f"-p 127.0.0.1:{broker}:5672" in calls and f"-p 127.0.0.1:{database}:5432" in calls


def test_the_local_broker_is_started_when_installed(tmp_path: Path) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    broker, database = free_port(), free_port()
    stand_in(bin_dir, "rabbitmq-server", broker, log)
    with socket.socket() as db:  # the database answers already
        db.bind(("127.0.0.1", database))
        db.listen()
        done = preflight(bin_dir, broker, database)
    assert done.returncode == 0, done.stderr
    assert "starting the local RabbitMQ (rabbitmq-server -detached)" in done.stderr
    assert log.read_text().strip() == "rabbitmq-server -detached"


def test_without_a_way_to_start_it_says_how(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = preflight(bin_dir, free_port(), free_port())
    assert done.returncode == 1
    assert "RabbitMQ is not reachable" in done.stderr
    assert "install docker or podman" in done.stderr

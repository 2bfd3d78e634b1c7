"""A process whose broker or database is gone still stops on SIGTERM: each step of its stop
that needs one of them (the gateway's last-seen flush and `gateway.stopped`, the consumers'
stop, the database pool's close) is bounded, so an orchestrator's SIGTERM is not turned into a
SIGKILL. Before, a gateway or command-api whose vhost was deleted under it kept reconnecting
for ever after SIGTERM, and a service whose database went silent (a partition) waited for its
pool's close for ever. The steps of one stop share one budget, so a process with its broker
and its database both silent stops too, within the grace the deployment checks count."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.integration.conftest import ADMIN_KEY, ADMIN_PASSWORD
from tests.integration.infra import isolated_database, isolated_vhost
from tests.integration.support import (
    BIN,
    ROOT,
    ServiceProcess,
    base_env,
    eventually,
    free_port,
)

pytestmark = pytest.mark.integration

# Its own exit: 0, or uvicorn's (command-api: it raises the SIGTERM again once shut down).
# SIGKILL (-9) is what `ServiceProcess.stop` sends 20 s after a SIGTERM that did not end it.
OWN_EXIT = (0, -signal.SIGTERM)
PORT_PREFIX = {"ws-gateway": "GATEWAY_", "command-api": "API_", "session-service": "SESSION_"}


def _env(service: str, broker_url: str, database_url: str, internal: int) -> dict[str, str]:
    prefix = PORT_PREFIX[service]
    public = {"ws-gateway": "PORT", "command-api": "HTTP_PORT"}.get(service)
    ports = {f"{prefix}INTERNAL_PORT": str(internal)}
    if public is not None:
        ports[f"{prefix}{public}"] = str(free_port())
    return base_env(
        CSMS_BROKER_URL=broker_url,
        CSMS_DATABASE_URL=database_url,
        CSMS_ADMIN_API_KEY=ADMIN_KEY,
        CSMS_ADMIN_PASSWORD=ADMIN_PASSWORD,
        GATEWAY_INSTANCE_ID="orphan-gateway",
        **ports,
    )


def _started(service: str, env: dict[str, str], internal: int, log_dir: Path) -> ServiceProcess:
    if service != "ws-gateway":
        subprocess.run([str(BIN / service), "migrate"], env=env, check=True, cwd=ROOT)
    process = ServiceProcess(service, [str(BIN / service)], env, log_dir)
    process.start()
    try:
        process.wait_ready(f"http://127.0.0.1:{internal}/readyz")
    except BaseException:
        process.kill()
        raise
    return process


async def _not_ready(internal: int) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            return (await http.get(f"http://127.0.0.1:{internal}/readyz")).status_code != 200
        except httpx.HTTPError:
            return True


async def _stopped(pid: int) -> bool:
    # /proc/PID/stat: "PID (comm) STATE ...", T when stopped by a signal.
    stat = await asyncio.to_thread(Path(f"/proc/{pid}/stat").read_text)
    return stat.rsplit(")", 1)[1].split()[0] == "T"


@contextlib.contextmanager
def _link(url: str, port: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server at `url` (its port, or `port`) through a TCP link process
    (chaos/pg_link.py) that SIGSTOP silences: the connections stay open, nothing passes (a
    partition, not a refusal)."""
    parts = urlsplit(url)
    listen = free_port()
    link = subprocess.Popen(
        [sys.executable, "-m", "chaos.pg_link", str(listen), str(parts.port or port)], cwd=ROOT
    )
    try:
        netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{listen}"
        yield urlunsplit(parts._replace(netloc=netloc)), link
    finally:
        link.send_signal(signal.SIGCONT)
        link.kill()
        link.wait(5)


@contextlib.contextmanager
def _own_vhost(broker: str) -> Iterator[str]:
    """A vhost of the test's own (it deletes it on leaving), or the test is skipped."""
    with isolated_vhost(broker) as broker_url:
        if broker_url == broker:
            pytest.skip("needs a vhost of its own (rabbitmqctl beside a local broker)")
        yield broker_url


async def _stops_on_its_own(
    process: ServiceProcess, cut_off: Callable[[], Awaitable[bool]]
) -> None:
    """Once `cut_off()` holds, SIGTERM ends `process` by itself (never SIGKILLed)."""
    try:
        await eventually(cut_off)
        code = await asyncio.to_thread(process.stop)
    finally:
        process.kill()
    assert code in OWN_EXIT, (code, process.tail())


@pytest.mark.parametrize("service", ["ws-gateway", "command-api"])
async def test_a_process_whose_vhost_was_deleted_stops_on_sigterm(
    service: str, broker_and_db_base: tuple[str, str], tmp_path: Path
) -> None:
    broker, database = broker_and_db_base
    internal = free_port()
    async with isolated_database(database) as database_url:
        with _own_vhost(broker) as broker_url:
            env = _env(service, broker_url, database_url, internal)
            process = _started(service, env, internal, tmp_path)
        # The vhost is deleted: the broker closed the process's connection and refuses every
        # reconnection, for good. Its readiness says so (it said "ready" while reconnecting).
        await _stops_on_its_own(process, lambda: _not_ready(internal))


@pytest.mark.parametrize("service", ["session-service", "command-api"])
async def test_a_process_whose_database_went_silent_stops_on_sigterm(
    service: str, broker_and_db_base: tuple[str, str], tmp_path: Path
) -> None:
    broker, database = broker_and_db_base
    internal = free_port()
    async with isolated_database(database) as database_url:
        with _own_vhost(broker) as broker_url, _link(database_url, 5432) as (linked, link):
            env = _env(service, broker_url, linked, internal)
            process = _started(service, env, internal, tmp_path)
            link.send_signal(signal.SIGSTOP)
            # Stopped is enough: no probe asks the database before the SIGTERM (a ping that
            # times out has its connection dropped, which a stop then need not close).
            await _stops_on_its_own(process, lambda: _stopped(link.pid))


@pytest.mark.parametrize("service", ["session-service", "command-api"])
async def test_a_process_whose_broker_and_database_went_silent_stops_within_its_grace(
    service: str, broker_and_db_base: tuple[str, str], tmp_path: Path
) -> None:
    """Both faults at once: every step that needs one of them waits on it, and the budget the
    steps share bounds the whole stop."""
    broker, database = broker_and_db_base
    internal = free_port()
    async with isolated_database(database) as database_url:
        with (
            _own_vhost(broker) as broker_url,
            _link(broker_url, 5672) as (broker_linked, broker_link),
            _link(database_url, 5432) as (database_linked, database_link),
        ):
            env = _env(service, broker_linked, database_linked, internal)
            process = _started(service, env, internal, tmp_path)
            broker_link.send_signal(signal.SIGSTOP)
            database_link.send_signal(signal.SIGSTOP)

            async def both_stopped() -> bool:
                return await _stopped(broker_link.pid) and await _stopped(database_link.pid)

            await _stops_on_its_own(process, both_stopped)

"""A process whose broker is gone still stops on SIGTERM: its goodbye to the broker (the
gateway's last-seen flush and `gateway.stopped`, command-api's consumers) is bounded, so an
orchestrator's SIGTERM is not turned into a SIGKILL. Before, a gateway or command-api whose
vhost was deleted under it kept reconnecting for ever after SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

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


def _env(service: str, broker_url: str, database_url: str, internal: int) -> dict[str, str]:
    ports = (
        {"GATEWAY_PORT": str(free_port()), "GATEWAY_INTERNAL_PORT": str(internal)}
        if service == "ws-gateway"
        else {"API_PORT": str(free_port()), "API_INTERNAL_PORT": str(internal)}
    )
    return base_env(
        CSMS_BROKER_URL=broker_url,
        CSMS_DATABASE_URL=database_url,
        CSMS_ADMIN_API_KEY=ADMIN_KEY,
        CSMS_ADMIN_PASSWORD=ADMIN_PASSWORD,
        GATEWAY_INSTANCE_ID="orphan-gateway",
        **ports,
    )


async def _not_ready(internal: int) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            return (await http.get(f"http://127.0.0.1:{internal}/readyz")).status_code != 200
        except httpx.HTTPError:
            return True


@pytest.mark.parametrize("service", ["ws-gateway", "command-api"])
async def test_a_process_whose_vhost_was_deleted_stops_on_sigterm(
    service: str, broker_and_db_base: tuple[str, str], tmp_path: Path
) -> None:
    broker, database = broker_and_db_base
    internal = free_port()
    async with isolated_database(database) as database_url:
        with isolated_vhost(broker) as broker_url:
            if broker_url == broker:
                pytest.skip("needs a vhost of its own (rabbitmqctl beside a local broker)")
            env = _env(service, broker_url, database_url, internal)
            if service == "command-api":
                subprocess.run([str(BIN / service), "migrate"], env=env, check=True, cwd=ROOT)
            process = ServiceProcess(service, [str(BIN / service)], env, tmp_path)
            process.start()
            try:
                process.wait_ready(f"http://127.0.0.1:{internal}/readyz")
            except BaseException:
                process.kill()
                raise
        # The vhost is deleted: the broker closes the process's connection and refuses every
        # reconnection, for good.
        try:
            await eventually(lambda: _not_ready(internal))
            # SIGTERM, then SIGKILL if it has not exited 20 s later (-9).
            code = await asyncio.to_thread(process.stop)
        finally:
            process.kill()
        # Its own exit: 0, or uvicorn's (it raises the SIGTERM again once it has shut down).
        assert code in (0, -signal.SIGTERM), (code, process.tail())

"""The suite under benchmark, started as the integration tests start it: own vhost, own DB."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractChannel, AbstractConnection

from tests.integration.conftest import ADMIN_KEY, SERVICES, Suite
from tests.integration.infra import Infra, base_urls, isolated_database, isolated_vhost
from tests.integration.support import ServiceProcess

from .procs import pids_named

# The integration tests speed up beats and sweeps; a benchmark runs the shipped defaults.
TEST_ONLY_ENV = (
    "REGISTRY_PRESENCE_SWEEP_INTERVAL",
    "GATEWAY_BEAT_INTERVAL",
    "GATEWAY_COMMAND_TIMEOUT",
    "API_COMMAND_TIMEOUT",
    # The tests' quick message log (a bundle every 20 ms, partition upkeep twice a second) costs
    # ~1 ms of writer and broker CPU per bundle: the bench measures the shipped 200/100 ms.
    "GATEWAY_MESSAGE_LOG_BUNDLE_WAIT_MS",
    "MESSAGE_LOG_BATCH_WAIT_MS",
    "MESSAGE_LOG_MAINTENANCE_INTERVAL",
    # The tests wait for a transaction's end as long as it takes; the bench measures the
    # shipped wait before it is answered apart.
    "GATEWAY_END_ANSWER_AFTER",
)
# idTags the fleet presents are not in the auth list: free vending, as a test site runs. The
# closed request/reply loop drives each of its 64 CPs at some 20 calls/s and more, the
# gateway's per-CP abuse limit (20/s, burst 60): the bench raises it, so that the suite's
# capacity is measured, not that limit (a real CP sends a few calls a minute).
BENCH_ENV = {
    "SESSION_UNKNOWN_ID_TAGS": "accept",
    "CSMS_LOG_LEVEL": "INFO",
    "GATEWAY_RATE_LIMIT_PER_SECOND": "1000",
    "GATEWAY_RATE_LIMIT_BURST": "2000",
}


def suite_overrides() -> dict[str, str]:
    """Settings of the suite's processes from `BENCH_SUITE_ENV` ("NAME=value NAME=value"):
    a tuning measured before it is shipped. The run's log names them."""
    pairs = (item.partition("=") for item in os.environ.get("BENCH_SUITE_ENV", "").split())
    return {name: value for name, sep, value in pairs if sep}


def left_out() -> list[str]:
    """Services `BENCH_WITHOUT` ("name name") leaves out of the suite: a service's own cost
    measured by a run with it beside a run without it (issue 33's pair against 1ed338f, which
    had no load-manager). Only services nothing the chosen scenarios do depends on."""
    names = os.environ.get("BENCH_WITHOUT", "").split()
    unknown = [name for name in names if name not in {entry[0] for entry in SERVICES}]
    if unknown:
        raise SystemExit(f"BENCH_WITHOUT names no service of the suite: {', '.join(unknown)}")
    return names


class BenchSuite:
    """Two gateways and every service, plus what the benchmark reads from them."""

    def __init__(self, suite: Suite, infra: Infra) -> None:
        self.suite = suite
        self.infra = infra
        self.admin_key = ADMIN_KEY
        self._amqp: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._db: asyncpg.Connection | None = None

    @property
    def gateway_urls(self) -> list[str]:
        """ws:// base URLs of the two gateways."""
        return [self.suite.gateway_url(i) for i in range(len(self.suite.gateways))]

    @property
    def api_url(self) -> str:
        """command-api's /api/v1."""
        return self.suite.api_url

    @property
    def dsn(self) -> str:
        """The suite's database, as asyncpg spells it."""
        return self.infra.asyncpg_dsn

    @property
    def broker_url(self) -> str:
        """The suite's vhost."""
        return self.infra.broker_url

    def gateway(self, index: int) -> ServiceProcess:
        """One gateway process."""
        return self.suite.gateways[index]

    def pid(self, process: ServiceProcess) -> int:
        """The pid of a running suite process."""
        assert process.proc is not None
        return process.proc.pid

    async def cpu_groups(self) -> dict[str, list[int]]:
        """Pids to account CPU to: each suite process, the broker, this DB's backends."""
        groups = {f"gateway{i}": [self.pid(g)] for i, g in enumerate(self.suite.gateways)}
        for name, process in self.suite.services.items():
            groups[name] = [self.pid(process)]
        groups["rabbitmq"] = pids_named("beam.smp")
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        groups["postgres"] = [r["pid"] for r in rows]
        return groups

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in a service queue (passive declare)."""
        if self._channel is None or self._channel.is_closed:
            # Not robust: a robust channel answers a passive declare from its cache.
            self._amqp = await aio_pika.connect(self.broker_url)
            self._channel = await self._amqp.channel()
        declared = await self._channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return int(result.message_count or 0)

    async def outbox_rows(self, schema: str) -> int:
        """Events a service committed but has not published yet (its outbox)."""
        if self._db is None or self._db.is_closed():
            self._db = await asyncpg.connect(self.dsn)
        return int(await self._db.fetchval(f"SELECT count(*) FROM {schema}.outbox"))

    async def db_counters(self) -> tuple[int, int]:
        """(sessions opened, transactions committed) in the suite's database so far."""
        if self._db is None or self._db.is_closed():
            self._db = await asyncpg.connect(self.dsn)
        row = await self._db.fetchrow(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        assert row is not None
        return int(row["sessions"]), int(row["xact_commit"])

    async def backlog(self, queue: str, schema: str) -> int:
        """Work a service has not finished: messages in its queue plus rows in its outbox."""
        return await self.queue_depth(queue) + await self.outbox_rows(schema)

    async def wait_drained(self, queue: str, schema: str, timeout: float) -> float:
        """Wait until the queue and the outbox are empty (bounded); seconds taken, -1 if not."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(int(timeout / 0.05) + 1):
            if not await self.backlog(queue, schema):
                return loop.time() - started
            if loop.time() - started > timeout:
                break
            await asyncio.sleep(0.05)
        return -1.0

    async def settle(self, timeout: float) -> float:
        """Wait until every service queue and outbox is empty (bounded); seconds, -1 if not."""
        queues = [
            f"{service}.{kind}"
            for service in ("station-registry", "session-service")
            for kind in ("calls", "events", "rpc")
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(int(timeout / 0.25) + 1):
            depths = [await self.queue_depth(q) for q in queues]
            outboxes = [await self.outbox_rows(s) for s in ("registry", "sessions", "commands")]
            if not any(depths) and not any(outboxes):
                return loop.time() - started
            if loop.time() - started > timeout:
                break
            await asyncio.sleep(0.25)
        return -1.0

    async def gateway_connections(self, index: int) -> int:
        """The `csms_gateway_connections` gauge of one gateway (-1 when it does not answer)."""
        url = f"http://127.0.0.1:{self.suite.gateway_internal_ports[index]}/metrics"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(url)).text
        except httpx.HTTPError:
            return -1
        for line in text.splitlines():
            if line.startswith("csms_gateway_connections "):
                return int(float(line.split()[1]))
        return -1

    async def wait_connections(self, index: int, at_most: int, timeout: float) -> float:
        """Wait until a gateway holds at most `at_most` CPs (it has handled the others' going)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(int(timeout / 0.5) + 1):
            if 0 <= await self.gateway_connections(index) <= at_most:
                return loop.time() - started
            if loop.time() - started > timeout:
                break
            await asyncio.sleep(0.5)
        return -1.0

    async def restart_gateway(self, index: int) -> None:
        """Start a stopped gateway again (new instance id)."""
        await asyncio.to_thread(self.suite.restart_gateway, index)

    async def close(self) -> None:
        """Close the benchmark's own broker connection."""
        if self._amqp is not None:
            await self._amqp.close()
        if self._db is not None:
            await self._db.close()


@contextlib.asynccontextmanager
async def running_suite(log_dir: Path) -> AsyncIterator[BenchSuite]:
    """Start the suite in a fresh vhost and database; stop it and drop both afterwards."""
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    with base_urls() as (broker, database), isolated_vhost(broker) as vhost_url:
        async with isolated_database(database) as db_url:
            infra = Infra(vhost_url, db_url)
            suite = await asyncio.to_thread(Suite, infra, log_dir)
            for name in left_out():
                del suite.services[name]
            for process in [*suite.services.values(), *suite.gateways]:
                env = {k: v for k, v in process.env.items() if k not in TEST_ONLY_ENV}
                process.env = env | BENCH_ENV | suite_overrides()
            bench = BenchSuite(suite, infra)
            try:
                await asyncio.to_thread(suite.start)
                yield bench
            finally:
                await bench.close()
                await asyncio.to_thread(suite.stop)

"""The suite under test: its own vhost and database, two gateways and the registry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.db import create_engine, session_factory
from station_registry.app import migrate as migrate_registry
from station_registry.settings import Settings as RegistrySettings
from tests.integration.infra import Infra, base_urls, isolated_database, isolated_vhost
from tests.integration.support import (
    BIN,
    ChargePointClient,
    ServiceProcess,
    base_env,
    free_port,
    run_migrations,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker_and_db_base() -> Iterator[tuple[str, str]]:
    with base_urls() as urls:
        yield urls


@pytest.fixture(scope="session")
async def infra(broker_and_db_base: tuple[str, str]) -> AsyncIterator[Infra]:
    broker, database = broker_and_db_base
    with isolated_vhost(broker) as vhost_url:
        async with isolated_database(database) as db_url:
            yield Infra(vhost_url, db_url)


# The registry's schema, migrated, for tests that call its handlers directly.
RegistrySchema = tuple[async_sessionmaker[AsyncSession], RegistrySettings]


@pytest.fixture(scope="session")
async def registry_schema(infra: Infra) -> AsyncIterator[RegistrySchema]:
    settings = RegistrySettings(
        database_url=infra.database_url, min_security_profile=0, unknown_charge_points="accept"
    )
    await asyncio.to_thread(migrate_registry, settings)
    engine = create_engine(infra.database_url, pool_size=2)
    yield session_factory(engine), settings
    await engine.dispose()


# The services the suite runs beside its gateways: (console script, env prefix, extra env).
# Each gets a free internal port (probes, metrics); command-api gets its API port besides, and
# roaming its OCPI port (PUBLIC_PORTS).
SERVICES = [
    (
        "station-registry",
        "REGISTRY_",
        {
            # The suite's own tests connect CPs of every profile; the hardened defaults (reject,
            # profile 1) have tests of their own (test_hardening.py).
            "REGISTRY_MIN_SECURITY_PROFILE": "0",
            "REGISTRY_UNKNOWN_CHARGE_POINTS": "accept",
            "REGISTRY_PRESENCE_SWEEP_INTERVAL": "0.5",
            "REGISTRY_DATA_TRANSFER_VENDORS": '{"com.acme": ["ping"], "com.any": []}',
            # test_station_secrets_floods.py fills a station's device model past it; no other
            # test's station reports more than a few dozen attributes.
            "REGISTRY_DEVICE_MODEL_MAX_ATTRIBUTES": "2000",
        },
    ),
    ("session-service", "SESSION_", {}),
    (
        "command-api",
        "API_",
        {
            "API_COMMAND_TIMEOUT": "5",
            # Every test client (the fuzz and the browsers too) logs in from 127.0.0.1; the
            # limit per address has its own test, from addresses of its own (X-Forwarded-For).
            "API_LOGIN_FAILURES_PER_ADDRESS": "50",
            # Webhook receivers of the tests listen on loopback; retries come quickly.
            "API_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
            "API_WEBHOOK_RETRY_BASE": "0.5",
            # Tests script each CP's calls exactly; test_configuration_at_boot.py turns it on.
            "API_READ_CONFIGURATION_AT_BOOT": "false",
        },
    ),
    # Partition maintenance often, so a test sees a partition past retention go in moments.
    (
        "message-log",
        "MESSAGE_LOG_",
        {"MESSAGE_LOG_MAINTENANCE_INTERVAL": "0.5", "MESSAGE_LOG_BATCH_WAIT_MS": "20"},
    ),
    # A session drawing well under its limit is capped after 2 s, not 300 (test_load_demand.py);
    # no other test's stations report the current they draw.
    ("load-manager", "LOADS_", {"LOADS_ALLOCATION_UNDERUSE_AFTER": "2"}),
    # The tests' OCPI platforms listen on loopback.
    (
        "roaming",
        "ROAMING_",
        {"ROAMING_ALLOWED_NETWORKS": '["127.0.0.0/8"]', "ROAMING_SESSION_UPDATE_INTERVAL": "1"},
    ),
]
# The services with a public port besides the internal one: its variable's name after the prefix.
PUBLIC_PORTS = {"command-api": "HTTP_PORT", "roaming": "HTTP_PORT"}
ADMIN_KEY = "csms_test_admin_" + uuid.uuid4().hex
ADMIN_PASSWORD = "test-admin-" + uuid.uuid4().hex


class Suite:
    """The running processes and how to reach them."""

    def __init__(self, infra: Infra, log_dir: Path) -> None:
        self.infra = infra
        self.log_dir = log_dir
        self.env = base_env(
            CSMS_BROKER_URL=infra.broker_url,
            CSMS_DATABASE_URL=infra.database_url,
            CSMS_LOG_LEVEL="INFO",
            CSMS_ADMIN_API_KEY=ADMIN_KEY,
            CSMS_ADMIN_PASSWORD=ADMIN_PASSWORD,
            # A vendor's secret key beside AuthorizationKey (test_station_secrets_floods.py).
            CSMS_SECRET_CONFIGURATION_KEYS="MeterPassword",
        )
        run_migrations(self.env)
        self.services: dict[str, ServiceProcess] = {}
        # The port each service serves its purpose on (command-api: the API; roaming: OCPI; the
        # others have none but the internal one) and its internal port (/healthz, /readyz,
        # /metrics).
        self.service_ports: dict[str, int] = {}
        self.internal_ports: dict[str, int] = {}
        for name, prefix, extra in SERVICES:
            internal = free_port()
            self.internal_ports[name] = internal
            ports = {f"{prefix}INTERNAL_PORT": str(internal)}
            self.service_ports[name] = internal
            if name in PUBLIC_PORTS:
                self.service_ports[name] = free_port()
                ports[f"{prefix}{PUBLIC_PORTS[name]}"] = str(self.service_ports[name])
            if name == "roaming":
                # What it hands OCPI parties: its own port here, no ingress in front.
                ports["ROAMING_PUBLIC_URL"] = f"http://127.0.0.1:{self.service_ports[name]}/ocpi"
            self.services[name] = ServiceProcess(
                name, [str(BIN / name)], self.env | ports | extra, log_dir
            )
        self.gateways: list[ServiceProcess] = []
        # Extra gateways and replicas of the running test (`extra_gateway`, `extra_service`).
        self.extras: list[ServiceProcess] = []
        self.gateway_ports: list[int] = []
        self.gateway_internal_ports: list[int] = []
        # Free ports, not 9000/9001: a developer's `make up` (or another run) may hold those.
        for _ in range(2):
            port = free_port()
            self.gateway_ports.append(port)
            self.gateway_internal_ports.append(free_port())
            self.gateways.append(
                ServiceProcess(
                    f"gateway-{port}",
                    [str(BIN / "ws-gateway")],
                    self.env
                    | {
                        "GATEWAY_PORT": str(port),
                        "GATEWAY_INTERNAL_PORT": str(self.gateway_internal_ports[-1]),
                        "GATEWAY_INSTANCE_ID": f"test-{port}-{uuid.uuid4().hex[:6]}",
                        "GATEWAY_BEAT_INTERVAL": "0.5",
                        "GATEWAY_SEEN_FLUSH_SECONDS": "0.2",
                        "GATEWAY_COMMAND_TIMEOUT": "5",
                        "GATEWAY_MESSAGE_LOG_BUNDLE_WAIT_MS": "20",
                        # Tests read what a stop stored right after its answer, and a 2.0.1
                        # station's totalCost: a slow moment must not answer an end apart
                        # (its own test sets a short wait, test_end_taken.py).
                        "GATEWAY_END_ANSWER_AFTER": "60",
                    },
                    log_dir,
                )
            )

    @property
    def registry_port(self) -> int:
        return self.service_ports["station-registry"]

    def start(self) -> None:
        for name, process in self.services.items():
            process.start()
            process.wait_ready(f"http://127.0.0.1:{self.internal_ports[name]}/readyz")
        for gateway, port in zip(self.gateways, self.gateway_internal_ports, strict=True):
            gateway.start()
            gateway.wait_ready(f"http://127.0.0.1:{port}/readyz")

    def restart_gateway(self, index: int, *, same_id: bool = False) -> None:
        """Start a gateway again with a new instance id (as a new pod would be), or with the
        one it had (as a pod's container restarted in place would be)."""
        gateway = self.gateways[index]
        if not same_id:
            gateway.env = gateway.env | {
                "GATEWAY_INSTANCE_ID": f"test-{self.gateway_ports[index]}-{uuid.uuid4().hex[:6]}"
            }
        gateway.start()
        gateway.wait_ready(f"http://127.0.0.1:{self.gateway_internal_ports[index]}/readyz")

    def restart_service(self, name: str, **env: str) -> None:
        """Start a stopped or killed service again, with `env` changed if given."""
        process = self.services[name]
        if env:
            process.stop()
            process.env = process.env | env
        process.start()
        self.services[name].wait_ready(f"http://127.0.0.1:{self.internal_ports[name]}/readyz")

    @property
    def roaming_url(self) -> str:
        """The roaming service's OCPI interface, `/ocpi` included."""
        return f"http://127.0.0.1:{self.service_ports['roaming']}/ocpi"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.service_ports['command-api']}/api/v1"

    def extra_gateway(self, name: str, **env: str) -> tuple[ServiceProcess, int]:
        """Start one more gateway with its own settings; the test stops it."""
        port, internal = free_port(), free_port()
        process = ServiceProcess(
            name,
            [str(BIN / "ws-gateway")],
            self.env
            | {
                "GATEWAY_PORT": str(port),
                "GATEWAY_INTERNAL_PORT": str(internal),
                "GATEWAY_INSTANCE_ID": f"{name}-{uuid.uuid4().hex[:6]}",
                "GATEWAY_BEAT_INTERVAL": "0.5",
                "GATEWAY_SEEN_FLUSH_SECONDS": "0.2",
            }
            | env,
            self.log_dir,
        )
        self.extras.append(process)
        process.start()
        # Plain HTTP even for a wss:// gateway: TLS is for the charge points' port.
        process.wait_ready(f"http://127.0.0.1:{internal}/readyz")
        return process, port

    def extra_service(self, name: str, **env: str) -> tuple[ServiceProcess, int]:
        """Start one more replica of a service (command-api not: its API port is the suite's),
        with the running one's settings, `env` changed if given, and an internal port of its
        own, which is returned (and a public port of its own where it has one); the test stops
        it."""
        prefixes = {service: prefix for service, prefix, _ in SERVICES if service != "command-api"}
        if name not in prefixes:
            raise ValueError(f"no extra replica of {name!r}: one of {sorted(prefixes)}")
        prefix = prefixes[name]
        internal = free_port()
        ports = {f"{prefix}INTERNAL_PORT": str(internal)}
        if name in PUBLIC_PORTS:
            ports[f"{prefix}{PUBLIC_PORTS[name]}"] = str(free_port())
        process = ServiceProcess(
            f"{name}-{internal}",
            [str(BIN / name)],
            self.services[name].env | ports | env,
            self.log_dir,
        )
        self.extras.append(process)
        process.start()
        process.wait_ready(f"http://127.0.0.1:{internal}/readyz")
        return process, internal

    def gateway_url(self, index: int) -> str:
        return f"ws://127.0.0.1:{self.gateway_ports[index]}"

    def stop_extras(self, since: int = 0) -> None:
        """Stop the extra gateways and replicas started since the `since`th (those a test
        started, had it not stopped them: it failed)."""
        for process in self.extras[since:]:
            process.stop()
        del self.extras[since:]

    def stop(self) -> None:
        self.stop_extras()
        for process in [*self.gateways, *self.services.values()]:
            process.stop()


@pytest.fixture(scope="session")
def suite(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    log_dir = tmp_path_factory.mktemp("logs")
    suite = Suite(infra, log_dir)
    _SUITE.append(suite)
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()
        _SUITE.clear()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.asyncpg_dsn)
    yield conn
    await conn.close()


@pytest.fixture
def cp_id() -> str:
    return f"CP-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def connect_cp(suite: Suite) -> AsyncIterator[object]:
    """Connect charge points to a gateway by index; all closed at the end of the test."""
    clients: list[ChargePointClient] = []

    async def _connect(cp_id: str, gateway: int = 0, **kw: object) -> ChargePointClient:
        client = await ChargePointClient.connect(suite.gateway_url(gateway), cp_id, **kw)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
async def api(suite: Suite) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's HTTP client with the bootstrap admin key."""
    async with httpx.AsyncClient(
        base_url=suite.api_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as client:
        yield client


_SUITE: list[Suite] = []


@pytest.fixture(autouse=True)
def _no_extras_left() -> Iterator[None]:
    """A test that failed before stopping its extra gateway or replica leaves none running for
    the tests after it (they would consume from the suite's queues). Those of a module's
    fixture, started before the test, stay."""
    before = len(_SUITE[0].extras) if _SUITE else 0
    yield
    if _SUITE:
        _SUITE[0].stop_extras(since=before)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, attach the end of every suite process's log to the report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and _SUITE:
        for process in [*_SUITE[0].services.values(), *_SUITE[0].gateways]:
            report.sections.append((f"log of {process.name}", process.tail(30)))

"""A broker URL naming a cluster's nodes: parsed strictly, and connections go round the list."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from yarl import URL

from csms_shared.bus.access import ROLES, user_of
from csms_shared.bus.connection import ClusterConnection, connect
from csms_shared.bus.nodes import broker_urls
from csms_shared.settings import DEFAULT_BROKER_URL, BrokerSettings, settings_config

TWO = "amqp://u:p@rabbit-0:5672/, amqp://u:p@rabbit-1:5673/csms"


class Settings(BaseSettings, BrokerSettings):
    """A service's broker settings."""

    model_config = settings_config("NODES_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NODES_BROKER_URL", "CSMS_BROKER_URL", "CSMS_BROKER_USERS"):
        monkeypatch.delenv(name, raising=False)


def test_one_url_is_one_node() -> None:
    assert broker_urls(DEFAULT_BROKER_URL) == [DEFAULT_BROKER_URL]


def test_commas_separate_nodes_in_their_order() -> None:
    assert broker_urls(TWO) == ["amqp://u:p@rabbit-0:5672/", "amqp://u:p@rabbit-1:5673/csms"]
    assert user_of(TWO) == "u"


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ("", "the broker URL is empty"),
        ("amqp://u:p@a/,,amqp://u:p@b/", "node 2 of 3 is empty"),
        ("amqp://u:p@a/,", "node 2 of 2 is empty"),
        ("amqp://u:p@a/,http://u:secret@b/", r"node 2 'http://u:\*\*\*\*\*\*@b/': not an AMQP URL"),
        ("rabbit-0:5672", "node 1 'rabbit-0:5672': not an AMQP URL"),
        ("amqp://u:p@[::1:5672/", "node 1 of 1: Invalid IPv6 URL"),
        ("amqp://a:p@x/,amqp://b:p@y/", r"different users \(a, b\)"),
    ],
)
def test_a_bad_node_is_named(setting: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        broker_urls(setting)


def test_settings_take_a_list_and_refuse_a_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_BROKER_URL", TWO)
    settings = Settings()
    assert settings.broker_url == TWO
    assert settings.broker_users == dict.fromkeys(ROLES, "u")
    monkeypatch.setenv("NODES_BROKER_URL", "amqp://u:p@a/,amqp://u:p@b/,")
    with pytest.raises(ValidationError, match="node 3 of 3 is empty"):
        Settings()


def test_a_cluster_connection_needs_a_node() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        ClusterConnection([])


@contextlib.asynccontextmanager
async def refusing_nodes(count: int) -> AsyncIterator[tuple[list[str], list[int]]]:
    """`count` nodes that close each connection at once; the indexes contacted, in order."""
    hits: list[int] = []
    servers = []

    def handler(index: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]:
        def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hits.append(index)
            writer.close()

        return accept

    for index in range(count):
        servers.append(await asyncio.start_server(handler(index), "127.0.0.1", 0))
    urls = [f"amqp://u:p@127.0.0.1:{s.sockets[0].getsockname()[1]}/" for s in servers]
    try:
        yield urls, hits
    finally:
        for server in servers:
            server.close()


async def test_the_first_connect_goes_round_the_nodes() -> None:
    async with refusing_nodes(3) as (urls, hits):
        with pytest.raises((OSError, aio_pika.exceptions.AMQPConnectionError)):
            await connect(",".join(urls), name="test", timeout=1.5)
    # Backoff 0.2, 0.4, 0.8 s: at least four attempts, each at the node after the last one.
    assert len(hits) >= 4, hits
    assert all(b == (a + 1) % 3 for a, b in itertools.pairwise(hits)), hits


class Forwarder:
    """A TCP forwarder to the broker that can be cut, as a node dies."""

    def __init__(self, target: URL) -> None:
        self.target = target
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target.host, self.target.port)
        self.writers += [writer, up_writer]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


@pytest.mark.integration
async def test_a_dropped_connection_moves_to_the_next_node(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="csms_shared.bus.connection")
    broker = URL(os.environ.get("CSMS_TEST_BROKER_URL", DEFAULT_BROKER_URL))
    nodes = [Forwarder(broker), Forwarder(broker)]
    ports = [await node.start() for node in nodes]
    urls = [str(broker.with_port(port)) for port in ports]
    connection = await connect(",".join(urls), name="test-nodes", timeout=10)
    reconnected = asyncio.Event()
    connection.reconnect_callbacks.add(lambda *_: reconnected.set())
    try:
        assert isinstance(connection, ClusterConnection)
        channel = await connection.channel()
        first = ports.index(connection.url.port)
        await nodes[first].cut()

        async def on_the_other_node() -> bool:
            return reconnected.is_set() and connection.url.port == ports[1 - first]

        await eventually(on_the_other_node)
        queue = await channel.declare_queue(exclusive=True)
        assert queue.name
        said = [r.getMessage() for r in caplog.records if r.name == "csms_shared.bus.connection"]
        lost = f"broker connection 'test-nodes': node 127.0.0.1:{ports[first]} lost"
        back = f"broker connection 'test-nodes': restored on node 127.0.0.1:{ports[1 - first]}"
        assert any(m.startswith(lost) for m in said), said
        assert back in said, said
    finally:
        await connection.close()
        for node in nodes:
            if node.server is not None and node.server.is_serving():
                await node.cut()

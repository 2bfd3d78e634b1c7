"""Connecting to RabbitMQ: retry the first connect, then let connect_robust reconnect.

The broker URL may name a cluster's nodes (`bus/nodes.py`): a connection then starts at a
random node, so a fleet of processes spreads over the cluster, and moves on to the next node
in the list each time an attempt fails or the connection drops, round the list.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from yarl import URL

from .nodes import broker_urls

log = logging.getLogger(__name__)

# Frames a connection's writer queue holds (aiormq's Connection.FRAME_BUFFER_SIZE, 10 by
# default, read when a connection is made). Past it every publish and ack waits for the writer
# task to take one, a loop turn per ten frames: a burst of 500 outbox events or a bundle's acks
# then crawls. The writer never waits for the socket (the transport buffers), so the bound gave
# no back-pressure. 10,000 confirmed publishes in bursts of 500: 211-234 -> 126-160 us of
# client CPU each.
WRITE_QUEUE_FRAMES = 1024
# Seconds between reconnect attempts to a cluster: the next node is most likely up, so try it
# soon (one node keeps aio-pika's 5 s, a restarting node is not hammered).
CLUSTER_RECONNECT_INTERVAL = 1.0


class ClusterConnection(aio_pika.RobustConnection):
    """A robust connection to one node of a cluster at a time: each failed attempt and each
    dropped connection moves it to the next node of `nodes`, round the list."""

    def __init__(self, nodes: Sequence[str], start: int = 0, **kwargs: Any) -> None:
        if not nodes:
            raise ValueError("a cluster connection needs at least one node")
        self.nodes = tuple(URL(node) for node in nodes)
        self.node = start % len(self.nodes)
        super().__init__(self.nodes[self.node], **kwargs)

    @property
    def name(self) -> str:
        """The connection's name, as the broker shows it."""
        properties = self.kwargs.get("client_properties") or {}
        return str(properties.get("connection_name", ""))

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # aio-pika calls this when a connection drops and when an attempt fails, before it
        # waits to try again: the next attempt goes to the next node.
        failed = self.url
        self.node = (self.node + 1) % len(self.nodes)
        self.url = self.nodes[self.node]
        if not self.close_called:
            log.warning(
                "broker connection %r: node %s lost; next: %s",
                self.name,
                _shown(failed),
                _shown(self.url),
            )
        await super()._on_connection_close(closing)

    async def _on_connected(self) -> None:
        again = self.connection_attempt > 0
        await super()._on_connected()
        if again:
            log.info("broker connection %r: restored on node %s", self.name, _shown(self.url))


def connected(connection: AbstractConnection | None) -> bool:
    """Whether the connection carries anything now, for a readiness probe: a robust connection
    that lost its broker is not closed (`is_closed` stays False until `close()`) while it
    reconnects, perhaps for ever (a vhost deleted under it)."""
    return connection is not None and not connection.is_closed and connection.connected.is_set()


def _shown(url: URL) -> str:
    return f"{url.host}:{url.port}"


async def connect(url: str, *, name: str, timeout: float = 60.0) -> AbstractRobustConnection:
    """A robust connection; the first attempt is retried with backoff for `timeout` seconds.

    `url`: one node, or several separated by commas (each attempt tries the next)."""
    aiormq.Connection.FRAME_BUFFER_SIZE = WRITE_QUEUE_FRAMES
    nodes = broker_urls(url)
    starts = itertools.count(random.randrange(len(nodes)))
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((OSError, aio_pika.exceptions.AMQPConnectionError)),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(timeout),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    ):
        with attempt:
            if len(nodes) == 1:
                return await aio_pika.connect_robust(
                    url, client_properties={"connection_name": name}, timeout=10
                )
            return await _connect_cluster(nodes, next(starts), name)
    raise AssertionError("unreachable")


async def _connect_cluster(nodes: list[str], start: int, name: str) -> AbstractRobustConnection:
    # None keeps a `reconnect_interval` the URL gives (aio-pika drops keywords that are None).
    given = "reconnect_interval" in URL(nodes[start % len(nodes)]).query
    connection = ClusterConnection(
        nodes,
        start,
        client_properties={"connection_name": name},
        reconnect_interval=None if given else CLUSTER_RECONNECT_INTERVAL,
    )
    try:
        await connection.connect(timeout=10)
    except BaseException:
        await connection.close()
        raise
    return connection

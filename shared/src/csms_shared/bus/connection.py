"""Connecting to RabbitMQ: retry the first connect, then let connect_robust reconnect."""

from __future__ import annotations

import logging

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)


async def connect(url: str, *, name: str, timeout: float = 60.0) -> AbstractRobustConnection:
    """A robust connection; the first attempt is retried with backoff for `timeout` seconds."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((OSError, aio_pika.exceptions.AMQPConnectionError)),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(timeout),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    ):
        with attempt:
            return await aio_pika.connect_robust(
                url, client_properties={"connection_name": name}, timeout=10
            )
    raise AssertionError("unreachable")

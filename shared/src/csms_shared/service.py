"""Running a service: database, runtime, probes, background loops, and a clean stop on signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from .bus.connection import connected
from .bus.router import Router
from .bus.runtime import ServiceRuntime
from .db import create_engine, ping, session_factory
from .health import serve_probes
from .heap import freeze_startup_heap
from .logging import configure_logging
from .samples import (
    Sampler,
    outbox_sampler,
    pool_sampler,
    queue_sampler,
    sample_forever,
    set_build_info,
)
from .stopping import StopBudget
from .tracing import configure_tracing, instrument_engine

log = logging.getLogger(__name__)

Background = Callable[[ServiceRuntime], Coroutine[Any, Any, None]]


class ServiceSettings(Protocol):
    """What `serve` reads from a service's settings."""

    broker_url: str
    prefetch: int
    database_url: str
    database_pool_size: int
    database_generic_plans: bool
    log_level: str
    log_json: bool
    http_host: str
    gc_thresholds: tuple[int, int, int]
    internal_port: int


async def wait_for_stop_signal() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(
    router: Router,
    settings: Any,
    *,
    outbox: Table | None = None,
    background: Sequence[Background] = (),
    samplers: Sequence[Callable[[AsyncEngine], Sampler]] = (),
    rpc_client: bool = False,
) -> None:
    """Run `router` as a service until SIGTERM/SIGINT; `background` loops run beside it, and
    `samplers` (given the engine) refresh the service's own gauges with csms_shared.samples;
    `rpc_client`: its handlers ask other services' RPC methods (`ctx.rpc`)."""
    s: ServiceSettings = settings
    name = router.service
    configure_logging(name, s.log_level, s.log_json)
    configure_tracing(name)
    engine = create_engine(
        s.database_url,
        pool_size=s.database_pool_size,
        application_name=name,
        generic_plans=s.database_generic_plans,
    )
    instrument_engine(engine)
    # One connection of its own for the owner beacons' database check (bus/owners.py): a check
    # through the busy pool would wait for a connection and call a loaded database down.
    beacon_engine = create_engine(
        s.database_url, pool_size=1, application_name=f"{name}-beacon", generic_plans=False
    )
    runtime = ServiceRuntime(
        router,
        settings=settings,
        broker_url=s.broker_url,
        sessions=session_factory(engine),
        outbox=outbox,
        prefetch=s.prefetch,
        rpc_client=rpc_client,
        consume=getattr(settings, "consume", ()),
        group_shards=getattr(settings, "group_shards", 1),
        ready=lambda: ping(beacon_engine),
    )
    await runtime.start()

    async def ready() -> None:
        await ping(engine)
        if not connected(runtime.connection):
            raise RuntimeError("broker connection is down")

    probes = await serve_probes(s.http_host, s.internal_port, ready)
    set_build_info(name)
    # Each service samples the queues it consumes (and their dead letters): declaring a queue
    # passively needs `configure` on it from RabbitMQ 4 on, and a service has that on its own.
    sampling = [pool_sampler(engine), queue_sampler(lambda: runtime.connection, runtime.queues)]
    if outbox is not None:
        sampling.append(outbox_sampler(engine, outbox))
    sampling.extend(sampler(engine) for sampler in samplers)
    tasks = [asyncio.create_task(loop(runtime), name=f"{name}-background") for loop in background]
    tasks.append(asyncio.create_task(sample_forever(sampling), name=f"{name}-metrics"))
    freeze_startup_heap(s.gc_thresholds)
    await wait_for_stop_signal()
    # First: the gateways stop sending its calls whatever else takes. The steps that need the
    # broker or the database share one bound: one that is gone, or silent (a partition), must
    # not hold the stop until SIGKILL.
    stop = StopBudget()
    await stop.step(runtime.leave(), "the last owner beacon")
    await stop.cancel(tasks)
    probes.close()
    await stop.step(runtime.stop(), "the consumers' stop")
    await stop.step(engine.dispose(), "the database pool's close")
    await stop.step(beacon_engine.dispose(), "the beacon's database connection's close")
    log.info("%s stopped", name)

"""The presence sweep: CPs whose gateway is gone or stopped are shown offline.

A gateway's beats say it is alive, but their absence does not say it is dead: under load they
queue behind other events, wait for a handler or leave a busy gateway late. So a gateway whose
beats are overdue is judged by what neither can fake: whether the broker still holds its AMQP
connection, seen as its exclusive queue `gateway.<id>`. That queue lives exactly as long as the
connection, and the broker closes a connection whose AMQP heartbeats stop (a killed process's
at once: the kernel closes its socket). Its CPs go offline only once the queue is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aio_pika.abc import AbstractConnection
from aiormq.exceptions import ChannelLockedResource, ChannelNotFoundEntity
from prometheus_client import Counter
from sqlalchemy import (
    Row,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.bus.topology import gateway_queue

from .db import charge_points, gateways
from .settings import Settings
from .store import locked_in_id_order

log = logging.getLogger(__name__)

# How long the broker may take to say whether a gateway's queue exists; past it, no verdict.
CHECK_TIMEOUT = 5.0

SWEEPS = Counter("csms_registry_presence_sweeps_total", "Presence sweeps run to the end")
CHECKS = Counter(
    "csms_registry_gateway_checks_total",
    "Gateways with overdue beats asked after on the broker, by verdict",
    ["verdict"],
)
_VERDICTS = {True: "connected", False: "gone", None: "unknown"}


def _overdue(factor: float) -> Any:
    gw = gateways.c
    return gw.last_beat_at < func.now() - func.make_interval(
        0, 0, 0, 0, 0, 0, gw.beat_interval * factor
    )


async def late_gateways(session: AsyncSession, factor: float) -> Sequence[Row[Any, Any, Any]]:
    """Gateways whose beats are `factor` intervals overdue and that hold online CPs (or were
    last found connected): `id`, `last_beat_at`, `connection_seen_at`."""
    gw, cp = gateways.c, charge_points.c
    holds = exists().where(cp.gateway == gw.id, cp.online.is_(True))
    result = await session.execute(
        select(gw.id, gw.last_beat_at, gw.connection_seen_at)
        .where(_overdue(factor), or_(holds, gw.connection_seen_at.is_not(None)))
        .order_by(gw.id)
    )
    return result.all()


async def connection_lives(
    connection: AbstractConnection, gateway: str, timeout: float = CHECK_TIMEOUT
) -> bool | None:
    """Whether `gateway`'s AMQP connection lives: its exclusive queue exists (None: the broker
    did not say).

    A passive queue.declare needs no permission. On a queue exclusive to another connection
    RabbitMQ answers 405 RESOURCE_LOCKED, on a missing one 404 NOT_FOUND; either closes the
    channel, so each check takes a channel of its own.
    """
    try:
        async with asyncio.timeout(timeout):
            channel = await connection.channel(publisher_confirms=False)
            try:
                await channel.declare_queue(gateway_queue(gateway), passive=True)
            except ChannelLockedResource:
                return True
            except ChannelNotFoundEntity:
                return False
            finally:
                await channel.close()
    except Exception as exc:  # a timeout, the registry's own connection lost: no verdict
        log.warning("could not ask the broker whether gateway %s lives: %r", gateway, exc)
        return None
    return True  # declared by a connection that does not own it exclusively: it exists


async def sweep_offline(
    session: AsyncSession, factor: float, alive: Sequence[str], gone: Sequence[str]
) -> list[str]:
    """Record the broker's verdicts on gateways still overdue; CPs of `gone` ones, and those
    connected before their gateway stopped, are offline. Returns their ids.

    CPs of a gone gateway are marked `offline_by_sweep`: should it beat again (its connection
    came back), its next beat puts the ones it still holds back online. A CP connected to a
    gateway restarted under a stopped one's id stays online.
    """
    gw, cp = gateways.c, charge_points.c
    checked = sorted({*alive, *gone})
    if checked:
        ids = bindparam("checked", type_=ARRAY(String))
        # One statement, rows locked in id order: beats lock these rows too. A gateway that beat
        # meanwhile is on time: no verdict.
        in_order = (
            select(gw.id)
            .where(gw.id == any_(ids), _overdue(factor))
            .order_by(gw.id)
            .with_for_update()
        )
        await session.execute(
            update(gateways)
            .where(gw.id.in_(in_order))
            .values(
                connection_seen_at=case(
                    (gw.id == any_(bindparam("alive", type_=ARRAY(String))), func.now()),
                    else_=None,
                )
            ),
            {"checked": checked, "alive": list(alive)},
        )
    gone_ids = bindparam("gone", type_=ARRAY(String))
    dead = and_(_overdue(factor), gw.id == any_(gone_ids))
    stopped = and_(gw.stopped_at.is_not(None), cp.connected_at <= gw.stopped_at)
    which = and_(cp.online.is_(True), cp.gateway == gw.id, or_(dead, stopped))
    result = await session.execute(
        update(charge_points)
        .where(which, cp.id.in_(locked_in_id_order(which)))
        .values(
            online=False,
            disconnected_at=func.now(),
            offline_by_sweep=func.coalesce(not_(stopped), True),
        )
        .returning(cp.id),
        {"gone": list(gone)},
    )
    return [row.id for row in result]


async def sweep_once(
    sessions: async_sessionmaker[AsyncSession],
    connection: AbstractConnection | None,
    factor: float,
) -> list[str]:
    """One sweep: ask the broker after each late gateway, then take offline what is gone or
    stopped. Returns the ids of the CPs taken offline."""
    async with sessions() as session, session.begin():
        late = await late_gateways(session, factor)
    # No DB connection is held while the broker answers.
    verdicts: list[bool | None] = (
        list(await asyncio.gather(*(connection_lives(connection, g.id) for g in late)))
        if connection is not None and not connection.is_closed
        else [None] * len(late)
    )
    for gateway, verdict in zip(late, verdicts, strict=True):
        CHECKS.labels(_VERDICTS[verdict]).inc()
        if verdict is True and gateway.connection_seen_at is None:
            log.warning(
                "gateway %s is late with its beats (the last at %s) but the broker still holds"
                " its connection: its charge points stay online",
                gateway.id,
                gateway.last_beat_at.isoformat(),
            )
    alive = [g.id for g, v in zip(late, verdicts, strict=True) if v is True]
    gone = [g.id for g, v in zip(late, verdicts, strict=True) if v is False]
    async with sessions() as session, session.begin():
        swept = await sweep_offline(session, factor, alive, gone)
    SWEEPS.inc()
    if swept:
        log.info(
            "%d charge points offline: their gateway's connection is gone (%s) or it stopped",
            len(swept),
            ", ".join(gone) or "none",
        )
    return swept


async def sweep_presence(runtime: ServiceRuntime) -> None:
    """`sweep_once` every `presence_sweep_interval` (crashed gateways send no disconnects)."""
    settings: Settings = runtime.settings
    while True:
        await asyncio.sleep(settings.presence_sweep_interval)
        try:
            await sweep_once(runtime.sessions, runtime.connection, settings.gateway_timeout_factor)
        except Exception:
            log.exception("presence sweep failed")

"""Running calls as the runtime's group commit does, against the real schema: a group's calls in
one transaction (`csms_shared.bus.handle.handle_calls`), or each alone in its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.handle import handle_alone, handle_calls
from csms_shared.bus.reply import Outcome
from csms_shared.bus.router import CallRoute, Context
from csms_shared.bus.topology import HEADER_CHARGE_POINT, HEADER_GATEWAY, HEADER_RECEIVED_AT
from csms_shared.bus.unit_of_work import UnitOfWork
from csms_shared.bus.validate import Call


class CountingUnitOfWork(UnitOfWork):
    """A unit of work that counts the events its commits staged."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Any, outbox: Table):
        super().__init__(sessions, settings=settings, outbox=outbox)
        self.emitted = 0
        self.commits = 0

    def committed(self, contexts: list[Context[Any]]) -> None:
        self.emitted += sum(ctx.emitted for ctx in contexts)
        self.commits += 1
        super().committed(contexts)


def call(cp: str, request: Any, at: datetime | None = None, gateway: str = "") -> Call:
    """A Call of `cp` as the gateway's headers name it."""
    headers: dict[str, Any] = {HEADER_CHARGE_POINT: cp, HEADER_GATEWAY: gateway}
    if at is not None:
        headers[HEADER_RECEIVED_AT] = at.isoformat()
    return Call(headers, request)


async def in_one_group(
    uow: UnitOfWork, route: CallRoute, calls: list[Call], *, batch: bool = True
) -> list[dict[str, Any]]:
    """The reply bodies of `calls` run as one group (its batch handler unless `batch=False`)."""
    if not batch:
        route = replace(route, batch=None)
    return [_body(outcome) for outcome in await handle_calls(uow, route, calls)]


async def one_by_one(uow: UnitOfWork, route: CallRoute, calls: list[Call]) -> list[dict[str, Any]]:
    """The reply bodies of `calls`, each run alone in a transaction of its own, in order."""
    return [_body(await handle_alone(uow, route, c)) for c in calls]


def _body(outcome: Outcome) -> dict[str, Any]:
    """The reply as the gateway receives it (JSON)."""
    body: dict[str, Any] = orjson.loads(outcome.reply.encode())
    return body

"""Unit of work: a DB session and transaction per group, the commit, after-commit callbacks, and
one more run of a transaction that lost a lock conflict (tenacity)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random,
)

from ..db import pool_size_of
from ..ocpp._base import utcnow
from ..ocpp.version import OcppVersion
from .metrics import HANDLED
from .router import CallContext, Context
from .rpc import RpcClient
from .stations import StationBindings
from .topology import HEADER_CHARGE_POINT, HEADER_GATEWAY, HEADER_MESSAGE_ID, HEADER_RECEIVED_AT

log = logging.getLogger(__name__)
T = TypeVar("T")

# Postgres aborted the transaction to resolve a conflict with another: deadlock, serialization.
_CONFLICTS = frozenset({"40P01", "40001"})
# Runs of a unit of work that keeps losing lock conflicts, the first included; seconds at most
# between the retries.
ATTEMPTS = 3
RETRY_JITTER = 0.02


def _exception_of(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


def lost_a_conflict(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) is Postgres aborting a transaction for a conflict."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _CONFLICTS:
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def exc_text(exc: BaseException) -> str:
    """The first line of an exception, for a log line."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def by_charge_point(
    items: Sequence[Mapping[str, Any]], key: str = HEADER_CHARGE_POINT
) -> list[int]:
    """The positions of `items` sorted by the charge point each names (stable).

    Groups write their rows in this order, and the registry locks many CPs' rows in id order:
    two transactions that meet on the same rows then wait for each other instead of
    deadlocking. A CP's own items keep their order.
    """
    return sorted(range(len(items)), key=lambda n: str(items[n].get(key) or ""))


def handler_slots(sessions: async_sessionmaker[AsyncSession], concurrency: int | None) -> int:
    """How many handlers may hold a DB session at once: the pool less one connection.

    The one left over serves the outbox relay, background loops and the readiness probe, so
    they never wait behind a full set of handlers. Without a bounded pool: `concurrency` or 64.
    """
    if concurrency is not None:
        return max(1, concurrency)
    bind = sessions.kw.get("bind")
    size = pool_size_of(bind) if isinstance(bind, AsyncEngine) else None
    return 64 if size is None else max(1, size - 1)


def rpc_lane(slots: int) -> int:
    """Handler slots kept for RPCs out of `slots`: a third from 6 up, 1 from 3 up, else none.

    RPCs are short reads and decisions somebody waits on (a gateway admitting a CP at its
    handshake, an operator's GET); behind a storm's backlog of notifications and events they
    would time out, and a CP refused with 503 stays away for its whole back-off.
    """
    return slots // 3 if slots >= 6 else 1 if slots >= 3 else 0


def decision_reserve(slots: int) -> int:
    """Of the slots calls and events share, how many only decisions may take: one from 2 up.

    A CP waits on each decision (Boot, Authorize, a transaction's start or end), and a station
    that cannot start a session is the failure operators see. Decisions also take any free slot
    before bulk work does (bus/slots.py); the bulk batches its calls into group transactions
    and keeps every other slot (docs/ARCHITECTURE.md, "Decisions first")."""
    return 1 if slots >= 2 else 0


def received_at(headers: Mapping[str, Any]) -> datetime:
    """When the gateway received the call (its header), else now."""
    value = headers.get(HEADER_RECEIVED_AT)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return utcnow()


@dataclass(slots=True)
class Transaction:
    """One open transaction: hands out the contexts of the handlers that run in it."""

    session: AsyncSession
    settings: Any
    outbox: Table | None
    contexts: list[Context[Any]] = field(default_factory=list)
    stations: StationBindings | None = None
    rpc: RpcClient | None = None

    def context(self) -> Context[Any]:
        """A handler's context in this transaction (an event's, an RPC's, a batch's)."""
        ctx: Context[Any] = Context(
            session=self.session,
            settings=self.settings,
            outbox=self.outbox,
            stations=self.stations,
            rpc=self.rpc,
        )
        self.contexts.append(ctx)
        return ctx

    def call_context(self, headers: Mapping[str, Any], version: OcppVersion) -> CallContext[Any]:
        """The context of one CP's CALL, from the headers it came with and the version of the
        route it came by."""
        ctx: CallContext[Any] = CallContext(
            session=self.session,
            settings=self.settings,
            outbox=self.outbox,
            stations=self.stations,
            rpc=self.rpc,
            charge_point_id=str(headers.get(HEADER_CHARGE_POINT, "")),
            message_id=str(headers.get(HEADER_MESSAGE_ID, "")),
            gateway_id=str(headers.get(HEADER_GATEWAY, "")),
            received_at=received_at(headers),
            ocpp_version=version,
        )
        self.contexts.append(ctx)
        return ctx


class UnitOfWork:
    """Runs work in a transaction of its own; after the commit, what its handlers asked for."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        settings: Any,
        outbox: Table | None = None,
        on_emitted: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.outbox = outbox
        # Called after a commit that wrote outbox rows (the relay's wake-up).
        self.on_emitted = on_emitted
        # Handed to every context once the runtime bound its events queue (bus/stations.py).
        self.stations: StationBindings | None = None
        # Handed to every context once the runtime started its RPC client, if it has one.
        self.rpc: RpcClient | None = None

    async def run(self, what: str, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """`work` in one transaction, committed when it returns, rolled back when it raises.

        Run again (up to `ATTEMPTS` in all) if Postgres aborted it for a deadlock or a
        serialization failure: the transaction it met has gone on, so a retry usually passes,
        where handling a group of 100 one by one would take the group's whole time again. The
        first run goes without tenacity's bookkeeping, which costs 20-30 us a unit of work
        (most of a small call's share of the runtime); tenacity runs the retries."""
        try:
            return await self._attempt(work)
        except Exception as exc:
            if not lost_a_conflict(exc):
                raise
            self._retrying(what, exc)
        retrying = AsyncRetrying(
            retry=retry_if_exception(lost_a_conflict),
            stop=stop_after_attempt(ATTEMPTS - 1),
            # Apart, so two losers of the same conflict do not meet again at once.
            wait=wait_random(0, RETRY_JITTER),
            before_sleep=lambda state: self._retrying(what, _exception_of(state)),
            reraise=True,
        )
        return await retrying(self._attempt, work)

    def _retrying(self, what: str, exc: BaseException | None) -> None:
        text = exc_text(exc) if exc is not None else "?"
        log.info("%s lost a lock conflict (%s); running it again", what, text)
        HANDLED.labels("group", "retried").inc()

    async def _attempt(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            txn = Transaction(
                session, self.settings, self.outbox, stations=self.stations, rpc=self.rpc
            )
            result = await work(txn)
        self.committed(txn.contexts)
        return result

    def committed(self, contexts: list[Context[Any]]) -> None:
        """Wake the outbox relay if events were staged; run the after-commit callbacks."""
        if self.on_emitted is not None and any(ctx.emitted for ctx in contexts):
            self.on_emitted()
        for ctx in contexts:
            for callback in ctx.committed:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed")

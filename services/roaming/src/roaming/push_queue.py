"""The queue of pushes to the platforms' receiver interfaces (`roaming.pushes`): a push is
written in the transaction of the change that causes it (`enqueue`), once per receiving
platform, and wakes this process's deliveries (`pushes.PushDelivery`) when that commits. A
newer push that says all an older pending one said supersedes it (`Push.supersedes`): the older
is dropped. Delivered and dropped pushes are pruned after a retention (`prune`)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from .db import platforms, pushes
from .ocpi.versions import InterfaceRole, ModuleId
from .platforms import PlatformState, interface_url, now

_WRITTEN = "roaming.pushes.written"


class Wakeable(Protocol):
    def wake(self) -> None: ...


# The deliveries running in this process, woken by a commit that queued pushes.
RUNNING: weakref.WeakSet[Wakeable] = weakref.WeakSet()


def pending() -> Any:
    """Pushes neither delivered nor dropped."""
    return and_(pushes.c.delivered_at.is_(None), pushes.c.dropped_at.is_(None))


def receiver_url(endpoints: list[dict[str, Any]] | None, module: ModuleId) -> str | None:
    """The platform's `module` RECEIVER interface, None when it has none."""
    return interface_url(endpoints, module, InterfaceRole.RECEIVER)


async def receivers(session: AsyncSession, module: ModuleId) -> list[str]:
    """The registered platforms with a `module` RECEIVER interface."""
    rows = await session.execute(
        select(platforms.c.id, platforms.c.endpoints).where(
            platforms.c.state == PlatformState.REGISTERED
        )
    )
    return [row.id for row in rows if receiver_url(row.endpoints, module) is not None]


@dataclass(frozen=True, slots=True)
class Push:
    """One document for every receiver of `module`: `method` on `path` below its URL (or on
    `path` itself when it is a URL the platform gave, a command's `response_url`)."""

    module: ModuleId
    object_key: str
    method: str
    path: str
    body: dict[str, Any]
    # Pending pushes of the object this one makes moot: all of them, or those of its path.
    supersedes: str | None = None  # "object" or "path"
    # The party it is for (a session's owner): in OCPI-to-*, so a hub routes it there; None
    # for a broadcast (OCPI-to-* the platform's own party: a hub's, or the eMSP's).
    to: tuple[str, str] | None = None


async def enqueue(session: AsyncSession, push: Push, platform_ids: list[str] | None = None) -> int:
    """Queue `push` for `platform_ids` (every receiver of its module when None) in the
    caller's transaction; delivered once it commits. How many were queued."""
    targets = platform_ids if platform_ids is not None else await receivers(session, push.module)
    if not targets:
        return 0
    if push.supersedes is not None:
        older = select(pushes.c.id).where(
            pending(),
            pushes.c.platform_id.in_(targets),
            pushes.c.object_key == push.object_key,
            or_(pushes.c.leased_until.is_(None), pushes.c.leased_until < func.now()),
        )
        if push.supersedes == "path":
            older = older.where(pushes.c.path == push.path, pushes.c.method == push.method)
        await session.execute(
            update(pushes)
            .where(pushes.c.id.in_(older.with_for_update(skip_locked=True).scalar_subquery()))
            .values(dropped_at=func.now(), dropped_why="superseded by a newer push")
        )
    await session.execute(
        insert(pushes),
        [
            {
                "platform_id": platform_id,
                "module": push.module.value,
                "object_key": push.object_key,
                "method": push.method,
                "path": push.path,
                "body": push.body,
                "to_country_code": push.to[0] if push.to else None,
                "to_party_id": push.to[1] if push.to else None,
            }
            for platform_id in targets
        ],
    )
    session.sync_session.info[_WRITTEN] = True
    return len(targets)


@orm_event.listens_for(Session, "after_commit")
def _wake(session: Session) -> None:
    """Pushes were committed: this process's deliveries send them now, not at the next poll."""
    if session.info.pop(_WRITTEN, False):
        for delivery in list(RUNNING):
            delivery.wake()


@orm_event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: object) -> None:
    session.info.pop(_WRITTEN, None)


async def prune(sessions: async_sessionmaker[AsyncSession], days: int) -> int:
    """Delete the delivered and dropped pushes older than `days` (pending ones stay)."""
    cutoff = now() - timedelta(days=days)
    async with sessions.begin() as session:
        result = await session.execute(
            delete(pushes).where(~pending(), pushes.c.created_at < cutoff)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

"""API_LOCAL_LIST_RESYNC: a CP's Local Authorization List synchronised again when an id tag of
the scope it was last synchronised to changes, or a token an eMSP pushed when it was
synchronised with the roaming tokens.

`id_tag.changed` (session-service) marks the lists whose scope holds the tag (every tag, or its
parent before or after the change) stale, and `roaming.token_changed` (roaming) the lists
synchronised with the roaming tokens, due API_LOCAL_LIST_RESYNC_DELAY seconds later, so a
burst of changes goes out as one Differential SendLocalList (none when the list would stay as
it is, as for a token it neither held nor will hold). Every replica claims due lists
(`FOR UPDATE SKIP LOCKED`, a lease) and synchronises them as an operator's sync would, recorded
in the audit log as `system:local-list-resync`. A CP that is offline then, or refuses, keeps its
list stale and is tried again when it next connects (`station.connected`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import HTTPException
from sqlalchemy import ColumnElement, Update, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.contracts.events import IdTagChanged, RoamingTokenChanged, StationConnected

from .api.deps import AppState
from .auth import Principal, Role
from .db import local_list_syncs
from .local_lists import synchronise
from .problems import ProblemError

log = logging.getLogger(__name__)

REQUESTER = Principal("system", "system:local-list-resync", Role.OPERATOR)
CLAIM = 10  # lists one replica synchronises at a time
LEASE = timedelta(minutes=5)  # a claimed list is left to its replica this long
POLL = 1.0  # seconds between looks for due lists

s = local_list_syncs.c


class LocalListResync:
    """Marks lists stale from `id_tag.changed` and `roaming.token_changed` and synchronises
    them when due."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._delay = timedelta(seconds=state.settings.local_list_resync_delay)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start synchronising due lists (the events that mark them come through
        `follow`, on the runtime's queue)."""
        self._task = asyncio.create_task(self._run(), name="local-list-resync")

    async def stop(self) -> None:
        """Stop synchronising (the queue's consumer ends with its channel)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def tag_changed(self, event: IdTagChanged, session: AsyncSession) -> None:
        """The lists whose scope holds the tag, before or after the change, are stale."""
        await session.execute(self._stale(self._holding(event)))

    async def roaming_token_changed(
        self, event: RoamingTokenChanged, session: AsyncSession
    ) -> None:
        """The lists synchronised with the roaming tokens are stale (whether the token was or
        will be in them is the session-service's to say, at the resync)."""
        await session.execute(self._stale(s.roaming_tokens))

    async def connected(self, event: StationConnected, session: AsyncSession) -> None:
        """A stale list of a CP that was offline is due now that it is back."""
        await session.execute(self._due_on_connect(event.charge_point_id))

    @staticmethod
    def _holding(event: IdTagChanged) -> ColumnElement[bool]:
        """The lists whose scope holds the tag, before or after the change."""
        groups = [g.lower() for g in (event.parent_id_tag, event.previous_parent_id_tag) if g]
        in_scope: ColumnElement[bool] = s.parent_id_tags.is_(None)
        if groups:
            in_scope = or_(
                in_scope, s.parent_id_tags.op("&&")(literal(groups, s.parent_id_tags.type))
            )
        return in_scope

    def _stale(self, in_scope: ColumnElement[bool]) -> Update:
        return (
            update(local_list_syncs)
            .where(in_scope)
            .values(
                stale=True,
                due_at=func.coalesce(s.due_at, func.now() + self._delay),
                generation=s.generation + 1,
            )
        )

    def _due_on_connect(self, cp_id: str) -> Update:
        return (
            update(local_list_syncs)
            .where(s.charge_point_id == cp_id, s.stale, s.due_at.is_(None))
            .values(due_at=func.now() + self._delay)
        )

    async def _run(self) -> None:
        while True:
            try:
                while await self.resync_due():
                    pass
            except Exception:
                log.exception("re-synchronising local lists failed")
            await asyncio.sleep(POLL)

    async def resync_due(self) -> int:
        """Synchronise up to CLAIM due lists; how many were claimed."""
        async with self._state.sessions() as session, session.begin():
            claimed = (
                await session.execute(
                    select(s.charge_point_id, s.parent_id_tags, s.roaming_tokens)
                    .where(s.stale, s.due_at <= func.now())
                    .order_by(s.due_at)
                    .limit(CLAIM)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if claimed:
                await session.execute(
                    update(local_list_syncs)
                    .where(s.charge_point_id.in_([row.charge_point_id for row in claimed]))
                    .values(due_at=func.now() + LEASE)
                )
        for row in claimed:
            await self._resync(row.charge_point_id, row.parent_id_tags, row.roaming_tokens)
        return len(claimed)

    async def _resync(self, cp_id: str, parents: list[str] | None, roaming: bool) -> None:
        async with self._state.sessions() as session:
            try:
                result = await synchronise(
                    self._state,
                    session,
                    REQUESTER,
                    cp_id,
                    parents,
                    "Differential",
                    roaming_tokens=roaming,
                    skip_unchanged=True,
                )
            except (HTTPException, ProblemError) as exc:
                # Offline, unknown, too long, or its content unknown: tried again at its next
                # connection (an operator's sync settles it too).
                detail = getattr(exc, "detail", None) or str(exc)
                log.info("local list of %s not re-synchronised: %s", cp_id, detail)
                await session.rollback()
                async with session.begin():
                    await session.execute(
                        update(local_list_syncs)
                        .where(s.charge_point_id == cp_id)
                        .values(due_at=None)
                    )
                return
        if not result.parts:
            log.info("local list of %s unchanged: nothing sent", cp_id)
        elif result.complete:
            log.info(
                "local list of %s re-synchronised: version %s, %d id tags",
                cp_id,
                result.list_version,
                result.size,
            )
        else:
            statuses = [part.status for part in result.parts]
            log.warning("local list of %s not taken by the CP: %s", cp_id, statuses)
            async with self._state.sessions() as session, session.begin():
                await session.execute(
                    update(local_list_syncs)
                    .where(s.charge_point_id == cp_id)
                    .values(stale=True, due_at=None)
                )

"""The console's live streams held to their session: each re-reads the session every few
seconds and ends with it (logout, disable, password change, expiry), and a user holds at most
`API_STREAMS_PER_USER` at once, counted across replicas by a lease row per stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from ..accounts import sessions as console_sessions
from ..accounts.tables import console_streams
from ..api.deps import AppState

# How often a stream re-reads its session (the bound is 10 s), and how long its lease
# outlives the last renewal (a replica that died stops counting after that).
CHECK_SECONDS = 5.0
LEASE = timedelta(seconds=3 * CHECK_SECONDS)
ENDED = "event: ended\ndata: {}\n\n"


class Lease:
    """One open stream of a console session."""

    def __init__(self, state: AppState, session_id: str, user_id: str) -> None:
        self._state = state
        self._session_id = session_id
        self.user_id = user_id
        self.id = str(uuid.uuid4())

    async def take(self) -> bool:
        """Count this stream in; False when the user holds the most already."""
        most = self._state.settings.streams_per_user
        c = console_streams.c
        async with self._state.sessions() as session, session.begin():
            # One user's streams are admitted one after another, on any replica.
            await session.execute(
                select(
                    func.pg_advisory_xact_lock(func.hashtextextended("streams:" + self.user_id, 0))
                )
            )
            await session.execute(delete(console_streams).where(c.expires_at < func.now()))
            held = await session.scalar(
                select(func.count()).select_from(console_streams).where(c.user_id == self.user_id)
            )
            if (held or 0) >= most:
                return False
            await session.execute(
                insert(console_streams).values(
                    id=self.id, user_id=self.user_id, expires_at=func.now() + LEASE
                )
            )
        return True

    async def renew(self) -> bool:
        """Still signed in: the lease runs on; False when the session ended."""
        async with self._state.sessions() as session, session.begin():
            alive = await console_sessions.load(session, self._session_id)
            if alive is None:
                return False
            await session.execute(
                update(console_streams)
                .where(console_streams.c.id == self.id)
                .values(expires_at=func.now() + LEASE)
            )
        return True

    async def holding(self, events: AsyncIterator[str]) -> AsyncIterator[str]:
        """`events`, the lease released when they end or the browser leaves."""
        try:
            async for event in events:
                yield event
        finally:
            await self.release()

    async def release(self) -> None:
        """The stream ended: it counts no more. Starlette ends a stream whose browser left by
        cancelling it in an anyio scope that cancels every later await too, so the release
        runs in a task of its own, which that cancellation does not reach."""
        task = asyncio.create_task(self._release(), name="console-stream-release")
        _RELEASING.add(task)
        task.add_done_callback(_RELEASING.discard)
        await asyncio.shield(task)

    async def _release(self) -> None:
        async with self._state.sessions() as session, session.begin():
            await session.execute(delete(console_streams).where(console_streams.c.id == self.id))


# Releases under way (a task nobody references may be collected before it ran).
_RELEASING: set[asyncio.Task[None]] = set()


def too_many(state: AppState) -> Response:
    """The answer to a stream past the user's cap (EventSource stops retrying on it)."""
    most = state.settings.streams_per_user
    return PlainTextResponse(
        f"At most {most} live views at once: close one, then reload this page\n",
        429,
        headers={"Retry-After": str(int(LEASE.total_seconds())), "Cache-Control": "no-store"},
    )

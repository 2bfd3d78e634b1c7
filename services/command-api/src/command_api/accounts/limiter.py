"""Failed logins counted in the database, per username and per address, so every replica of
command-api sees the same count and a restart forgets nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import login_failures


def subjects(username: str, address: str) -> list[str]:
    """What a failed login counts against."""
    return [f"user:{username.casefold()}"[:120], f"addr:{address}"[:120]]


async def failures(session: AsyncSession, subject: str, window: timedelta) -> int:
    """Failed logins of `subject` in the last `window`."""
    count = await session.scalar(
        select(func.count())
        .select_from(login_failures)
        .where(login_failures.c.subject == subject, login_failures.c.at > func.now() - window)
    )
    return int(count or 0)


async def lock(session: AsyncSession, username: str, address: str) -> None:
    """Hold the username's and the address's counts to the end of the transaction: attempts
    (on any replica) then check and count one after another, never all past the same count."""
    # Sorted: two attempts sharing both subjects take them in the same order, so never deadlock.
    for subject in sorted(subjects(username, address)):
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(subject, 0))))


async def record_failure(session: AsyncSession, username: str, address: str) -> None:
    """Count one failed login against the username and the address."""
    await session.execute(
        insert(login_failures), [{"subject": s} for s in subjects(username, address)]
    )


async def forget(session: AsyncSession, username: str, window: timedelta) -> None:
    """A successful login clears the username's count, and rows older than the window go."""
    await session.execute(
        delete(login_failures).where(
            (login_failures.c.subject == subjects(username, "")[0])
            | (login_failures.c.at < func.now() - window)
        )
    )

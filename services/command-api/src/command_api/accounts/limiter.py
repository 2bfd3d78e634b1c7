"""Failed logins counted in the database, so every replica of command-api sees the same count
and a restart forgets nothing.

After OWASP's authentication cheat sheet: failures count per (username, client address) and per
address, which lock only the guesser out, and per username, which only slows every attempt for
that username down by a growing delay. A stranger's guesses thus never refuse the right password
from another address: they can only make it wait a little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import login_failures


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures a (username, address) pair and an address may have in `window`
    before they are refused, and the delay per username after `slow_after` failures: `delay`
    seconds, doubled with each further failure, at most `max_delay`."""

    per_user_and_address: int
    per_address: int
    window: timedelta
    slow_after: int
    delay: float
    max_delay: float

    def delay_for(self, failures: int) -> float:
        """The seconds an attempt for a username with `failures` recent failures waits."""
        if failures < self.slow_after or self.delay <= 0:
            return 0.0
        growth = 2.0 ** min(failures - self.slow_after, 30)
        return min(self.max_delay, self.delay * growth)


@dataclass(frozen=True, slots=True)
class Subjects:
    """What one attempt counts against."""

    pair: str
    address: str
    user: str

    @classmethod
    def of(cls, username: str, address: str) -> Subjects:
        user = username.casefold()
        return cls(f"pair:{user}|{address}"[:120], f"addr:{address}"[:120], f"user:{user}"[:120])


@dataclass(frozen=True, slots=True)
class Failures:
    """Recent failures of an attempt's subjects."""

    pair: int
    address: int
    user: int

    def refused(self, limits: LoginLimits) -> bool:
        """The pair or the address is locked out."""
        return self.pair >= limits.per_user_and_address or self.address >= limits.per_address


async def failures(session: AsyncSession, subjects: Subjects, window: timedelta) -> Failures:
    """The failures of each subject in the last `window`, in one read."""
    recent = login_failures.c.at > func.now() - window
    counts = {
        row.subject: int(row.failures)
        for row in await session.execute(
            select(login_failures.c.subject, func.count().label("failures"))
            .where(
                login_failures.c.subject.in_([subjects.pair, subjects.address, subjects.user]),
                recent,
            )
            .group_by(login_failures.c.subject)
        )
    }
    return Failures(
        counts.get(subjects.pair, 0), counts.get(subjects.address, 0), counts.get(subjects.user, 0)
    )


async def lock(session: AsyncSession, subjects: Subjects) -> None:
    """Hold the pair's and the address's counts to the end of the transaction: attempts (on
    any replica) then check and count one after another, never all past the same count."""
    # Sorted: two attempts sharing both subjects take them in the same order, so never deadlock.
    for subject in sorted((subjects.pair, subjects.address)):
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(subject, 0))))


async def record_failure(session: AsyncSession, subjects: Subjects) -> None:
    """Count one failed login against the pair, the address and the username."""
    await session.execute(
        insert(login_failures),
        [{"subject": s} for s in (subjects.pair, subjects.address, subjects.user)],
    )


async def forget(session: AsyncSession, subjects: Subjects, window: timedelta) -> None:
    """A successful login clears the pair's count (the username's stays: it slows down whoever
    else guesses it), and rows older than the window go."""
    await session.execute(
        delete(login_failures).where(
            (login_failures.c.subject == subjects.pair)
            | (login_failures.c.at < func.now() - window)
        )
    )

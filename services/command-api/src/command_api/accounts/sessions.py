"""Console sessions: rows in the database, named by a signed, expiring cookie."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from . import tokens
from .tables import console_sessions, users
from .users import User, _user

COOKIE = "csms_session"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in user and the CSRF token of their session."""

    user: User
    csrf_token: str
    session_id: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def start(session: AsyncSession, user: User, lifetime: timedelta) -> tuple[str, str]:
    """A new session (a fresh id at every login); returns (session id, CSRF token)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await session.execute(
        insert(console_sessions).values(
            id_hash=_hash(session_id),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=func.now() + lifetime,
        )
    )
    # Expired sessions of anybody go at each login: the table holds live sessions only.
    await session.execute(
        delete(console_sessions).where(console_sessions.c.expires_at < func.now())
    )
    return session_id, csrf


def cookie_value(secret: str, session_id: str, lifetime: timedelta) -> str:
    """The signed cookie naming the session."""
    return tokens.sign(secret, tokens.SESSION, lifetime.total_seconds(), sid=session_id)


def session_id_of(secret: str, cookie: str | None) -> str | None:
    """The session id a cookie names, if its signature and expiry hold."""
    claims = tokens.verify(secret, tokens.SESSION, cookie) if cookie else None
    return claims.sid if claims else None


async def load(session: AsyncSession, session_id: str) -> ConsoleSession | None:
    """The live session with this id, of a user who is not disabled."""
    row = (
        await session.execute(
            select(users, console_sessions.c.csrf_token)
            .join(console_sessions, console_sessions.c.user_id == users.c.id)
            .where(
                console_sessions.c.id_hash == _hash(session_id),
                console_sessions.c.expires_at > func.now(),
                ~users.c.disabled,
            )
        )
    ).first()
    return ConsoleSession(_user(row), row.csrf_token, session_id) if row else None


async def end(session: AsyncSession, session_id: str) -> None:
    """Log out: the session row goes, so the cookie is worthless even if kept."""
    await session.execute(
        delete(console_sessions).where(console_sessions.c.id_hash == _hash(session_id))
    )

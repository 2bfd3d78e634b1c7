"""Users: create, read, change, authenticate; the bootstrap admin."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..auth import Principal, Role
from . import limiter, tokens
from .limiter import LoginLimits
from .passwords import PasswordWork, hash_password, password_problem
from .tables import console_sessions, users

LOGIN_DELAYS = Counter(
    "csms_api_login_delays_total",
    "Login attempts held back because their username failed too often recently",
)

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
BOOTSTRAP_USERNAME = "admin"


class AccountError(Exception):
    """A change to an account that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in to the console or asks for API tokens."""

    id: str
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: datetime
    created_by: str | None
    last_login_at: datetime | None
    credentials_version: int

    @property
    def principal(self) -> Principal:
        """The user as the API's callers are named: `user:<username>` in the audit log."""
        return Principal(f"user:{self.id}", f"user:{self.username}", self.role)


def _user(row: Any) -> User:
    return User(
        row.id,
        row.username,
        row.display_name,
        Role(row.role),
        row.disabled,
        row.created_at,
        row.created_by,
        row.last_login_at,
        row.credentials_version,
    )


async def get_user(session: AsyncSession | AsyncConnection, user_id: str) -> User | None:
    """The user with this id."""
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def list_users(session: AsyncSession) -> list[User]:
    """Every user, by username."""
    rows = (await session.execute(select(users).order_by(users.c.username))).all()
    return [_user(r) for r in rows]


async def create_user(
    session: AsyncSession,
    passwords: PasswordWork,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    created_by: str,
) -> User:
    """Add a user; AccountError when the name is taken or the password too weak."""
    problem = password_problem(password, username)
    if problem:
        raise AccountError(f"The password is refused: {problem}")
    # Hashed before the first statement: the caller's transaction holds no connection yet.
    hashed = await passwords.hash(password)
    row = (
        await session.execute(
            insert(users)
            .values(
                id=str(uuid.uuid4()),
                username=username,
                display_name=display_name or username,
                password_hash=hashed,
                role=role.value,
                created_by=created_by,
            )
            .on_conflict_do_nothing(index_elements=[users.c.username])
            .returning(*users.c)
        )
    ).first()
    if row is None:
        raise AccountError(f"A user named {username!r} exists")
    return _user(row)


async def change_user(
    session: AsyncSession,
    user_id: str,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    display_name: str | None = None,
) -> User:
    """Change a user's role, disabled flag or display name; the last enabled admin stays one."""
    values: dict[str, str | bool | ColumnElement[int]] = {}
    if role is not None:
        values["role"] = role.value
    if disabled is not None:
        values["disabled"] = disabled
    if display_name:
        values["display_name"] = display_name
    current = await get_user(session, user_id)
    if current is None:
        raise AccountError("No such user")
    demoted = (role is not None and role is not Role.ADMIN) or disabled is True
    if demoted and current.role is Role.ADMIN and not current.disabled:
        others = await session.scalar(
            select(func.count())
            .select_from(users)
            .where(users.c.role == "admin", ~users.c.disabled, users.c.id != user_id)
        )
        if not others:
            raise AccountError("This is the last enabled admin: make another admin first")
    # A new role or a disable/enable ends every session and token issued before: a token
    # issued before a disable must not come back to life when the user is enabled again.
    changed = (role is not None and role is not current.role) or (
        disabled is not None and disabled != current.disabled
    )
    if changed:
        values["credentials_version"] = users.c.credentials_version + 1
    if values:
        await session.execute(update(users).where(users.c.id == user_id).values(**values))
    if changed:
        await session.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))
    user = await get_user(session, user_id)
    assert user is not None
    return user


async def set_password(
    session: AsyncSession, passwords: PasswordWork, user_id: str, password: str
) -> None:
    """A new password: the user's sessions end and tokens issued before stop working."""
    user = await get_user(session, user_id)
    if user is None:
        raise AccountError("No such user")
    problem = password_problem(password, user.username)
    if problem:
        raise AccountError(f"The password is refused: {problem}")
    await session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            password_hash=await passwords.hash(password),
            credentials_version=users.c.credentials_version + 1,
        )
    )
    await session.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))


class LoginRefused(Exception):
    """A login that does not go through: wrong credentials, disabled, or too many failures."""

    def __init__(self, message: str, *, limited: bool = False) -> None:
        super().__init__(message)
        self.limited = limited


def _too_many(limits: LoginLimits) -> LoginRefused:
    minutes = int(limits.window.total_seconds() // 60)
    return LoginRefused(
        f"Too many failed logins from this address: try again in up to {minutes} minutes",
        limited=True,
    )


async def _verify_counted(
    session: AsyncSession,
    passwords: PasswordWork,
    username: str,
    address: str,
    limits: LoginLimits,
    stored: str | None,
    password: str,
) -> tuple[bool, str | None]:
    """verify_password, refused (LoginRefused) while the (username, address) pair or the
    address is locked out, after the username's delay; a wrong password counts against all
    three, committed. No transaction is open while the attempt waits or argon2 runs, so
    neither holds a database connection. The deciding check and the count run under
    limiter.lock, so of many concurrent guesses no more than the limit are ever answered."""
    subjects = limiter.Subjects.of(username, address)
    async with session.begin():
        before = await limiter.failures(session, subjects, limits.window)
    # Guesses while locked out cost no argon2 verification.
    if before.refused(limits):
        raise _too_many(limits)
    delay = limits.delay_for(before.user)
    if delay:
        LOGIN_DELAYS.inc()
        await asyncio.sleep(delay)
    ok, rehashed = await passwords.verify(stored, password)
    async with session.begin():
        await limiter.lock(session, subjects)
        now = await limiter.failures(session, subjects, limits.window)
        if now.refused(limits):
            ok = False
        elif not ok:
            await limiter.record_failure(session, subjects)
        else:
            await limiter.forget(session, subjects, limits.window)
    if now.refused(limits):
        raise _too_many(limits)
    return ok, rehashed


async def login(
    session: AsyncSession,
    passwords: PasswordWork,
    username: str,
    password: str,
    address: str,
    limits: LoginLimits,
) -> User:
    """The user whose username and password these are; LoginRefused otherwise (Busy when too
    many checks are under way). Runs its own transactions: failures are counted even when the
    login is refused."""
    async with session.begin():
        row = (await session.execute(select(users).where(users.c.username == username))).first()
    # An unknown or disabled user is verified against a dummy hash: it takes as long and fails.
    stored = row.password_hash if row is not None and not row.disabled else None
    ok, rehashed = await _verify_counted(
        session, passwords, username, address, limits, stored, password
    )
    if row is None or not ok:
        raise LoginRefused("Wrong username or password, or the account is disabled")
    values: dict[str, ColumnElement[datetime] | str] = {"last_login_at": func.now()}
    if rehashed:
        values["password_hash"] = rehashed
    async with session.begin():
        await session.execute(update(users).where(users.c.id == row.id).values(**values))
    return _user(row)


async def confirm_password(
    session: AsyncSession,
    passwords: PasswordWork,
    user_id: str,
    password: str,
    address: str,
    limits: LoginLimits,
) -> bool:
    """True when `password` is the user's current one. A wrong one counts as a failed login,
    and while the user at this address or the address is locked out LoginRefused. Runs its own
    transactions."""
    query = select(users.c.username, users.c.password_hash).where(users.c.id == user_id)
    async with session.begin():
        row = (await session.execute(query)).first()
    if row is None:
        raise AccountError("No such user")
    ok, _ = await _verify_counted(
        session, passwords, row.username, address, limits, row.password_hash, password
    )
    return ok


async def ensure_bootstrap_user(session: AsyncSession, password: str) -> bool:
    """Create user `admin` with `password` when no admin exists; True when created."""
    admins = await session.scalar(
        select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
    )
    if admins:
        return False
    result = await session.execute(
        insert(users)
        .values(
            id=str(uuid.uuid4()),
            username=BOOTSTRAP_USERNAME,
            display_name="Administrator",
            password_hash=hash_password(password),
            role=Role.ADMIN.value,
            created_by="environment",
        )
        .on_conflict_do_nothing(index_elements=[users.c.username])
        .returning(users.c.id)
    )
    return result.first() is not None


async def user_principal(
    session: AsyncSession | AsyncConnection, secret: str, token: str
) -> Principal | None:
    """The principal of a valid access token whose user is enabled and has not changed their
    password since it was issued; the role is the user's role now, not when issued."""
    claims = tokens.verify(secret, tokens.ACCESS, token)
    if claims is None or claims.sub is None:
        return None
    user = await get_user(session, claims.sub)
    if user is None or user.disabled or claims.ver != user.credentials_version:
        return None
    return user.principal

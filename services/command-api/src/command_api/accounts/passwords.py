"""Passwords: argon2id hashes (argon2-cffi) and what a password must not be."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter

_T = TypeVar("_T")
PASSWORD_WORK = Counter(
    "csms_api_password_checks_total",
    "argon2 hashes and verifications of users' passwords: done, or refused as busy",
    ["outcome"],
)

MIN_LENGTH = 12
PLACEHOLDERS = frozenset(
    {"changeme", "changethis", "password", "secret", "admin", "example", "letmein", "qwerty"}
)

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile.
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that answer takes as long as a wrong password.
_DUMMY = _hasher.hash("not-a-password-anyone-has")


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` may not be used, or None when it may."""
    folded = password.strip().casefold()
    squeezed = "".join(c for c in folded if c.isalnum())
    # A common word with a few characters around it (`password1234`, `Admin!2026`) is no better.
    if any(p in squeezed and len(squeezed.replace(p, "")) < 8 for p in PLACEHOLDERS):
        return "it is a placeholder or a common password"
    if username and folded == username.casefold():
        return "it is the username"
    if "\x00" in password:
        return "it contains U+0000"
    if len(password) < MIN_LENGTH:
        return f"it has {len(password)} characters; it needs at least {MIN_LENGTH}"
    if len(set(folded)) < 6:
        return "it repeats too few characters"
    if len(password) > 256:
        return "it is longer than 256 characters"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash to store."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one uses weaker parameters than today's)."""
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored) else None)


class Busy(Exception):
    """Too many password checks are under way or queued: the caller should come back soon."""


class PasswordWork:
    """argon2 off the event loop: in a pool of `threads` of its own, with at most `waiting`
    more queued for it. A check past that is refused at once (Busy), so a burst of logins
    costs a bounded number of threads and memory and never stalls REST, the console, live
    streams or the consumers."""

    def __init__(self, threads: int, waiting: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._most = threads + waiting
        self._under_way = 0

    async def _run(self, work: Callable[..., _T], *args: Any) -> _T:
        if self._under_way >= self._most:
            PASSWORD_WORK.labels("busy").inc()
            raise Busy("Too many sign-ins at once: try again in a moment")
        self._under_way += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._under_way -= 1
        PASSWORD_WORK.labels("done").inc()
        return result

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """verify_password in the pool."""
        return await self._run(verify_password, stored, password)

    async def hash(self, password: str) -> str:
        """hash_password in the pool."""
        return await self._run(hash_password, password)

    def close(self) -> None:
        """Let the pool's threads go once their work is done."""
        self._pool.shutdown(wait=False, cancel_futures=True)

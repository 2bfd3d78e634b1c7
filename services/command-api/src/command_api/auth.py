"""Operator API keys: bearer tokens stored hashed, roles viewer < operator < admin."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from .db import api_keys

KEY_PREFIX = "csms_"
BOOTSTRAP_NAME = "bootstrap-admin"
# The bootstrap key is chosen by a person: long enough, and none of the usual placeholders.
BOOTSTRAP_MIN_LENGTH = 32
PLACEHOLDERS = frozenset(
    {"change-me", "changeme", "change_me", "changethis", "secret", "password", "admin", "example"}
)


_GENERATE = "generate one, e.g. `openssl rand -hex 32`"


def bootstrap_key_problem(key: str) -> str | None:
    """Why `key` cannot be the bootstrap admin key, or None when it can."""
    folded = key.strip().casefold()
    squeezed = folded.replace("-", "").replace("_", "")
    if folded in PLACEHOLDERS or "changeme" in squeezed or "changethis" in squeezed:
        return f"it is a placeholder (CHANGE-ME and the like); {_GENERATE}"
    if len(set(folded)) < 8:
        return f"it repeats too few characters; {_GENERATE}"
    if len(key) < BOOTSTRAP_MIN_LENGTH:
        return f"it has {len(key)} characters; it needs at least {BOOTSTRAP_MIN_LENGTH}"
    return None


class Role(StrEnum):
    """What a key may do: viewer reads, operator also sends commands, admin also manages."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Higher ranks include the lower ones."""
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: str
    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """True when this principal's role includes `role`."""
        return self.role.rank >= role.rank


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh 256-bit key, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    session: AsyncSession, name: str, role: Role, created_by: str, key: str | None = None
) -> tuple[str, str]:
    """Store a new key; returns (id, the key itself, shown once)."""
    key = key or new_key()
    key_id = str(uuid.uuid4())
    await session.execute(
        insert(api_keys).values(
            id=key_id,
            name=name,
            role=role.value,
            key_hash=hash_key(key),
            prefix=key[:12],
            created_by=created_by,
        )
    )
    return key_id, key


async def ensure_bootstrap_admin(session: AsyncSession, key: str) -> None:
    """Make the configured bootstrap key a valid admin key (idempotent, survives restarts)."""
    await session.execute(
        insert(api_keys)
        .values(
            id=str(uuid.uuid4()),
            name=BOOTSTRAP_NAME,
            role=Role.ADMIN.value,
            key_hash=hash_key(key),
            prefix="bootstrap",  # no part of a key a person chose
            created_by="environment",
        )
        .on_conflict_do_nothing(index_elements=[api_keys.c.key_hash])
    )


# Built once: every API request runs it (building it cost a fifth of its time).
_LIVE_KEY = select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
    api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None)
)


async def authenticate(session: AsyncSession | AsyncConnection, key: str) -> Principal | None:
    """The principal of a key that exists and is not revoked."""
    row = (await session.execute(_LIVE_KEY, {"key_hash": hash_key(key)})).first()
    if row is None:
        return None
    return Principal(row.id, row.name, Role(row.role))

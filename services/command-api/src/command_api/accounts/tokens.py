"""Signed tokens (PyJWT, HS256): API access tokens and the console's session cookie."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import signing_keys

ALGORITHM = "HS256"
ISSUER = "csms-command-api"
ACCESS = "access"
SESSION = "session"


class Claims(BaseModel):
    """A verified token's claims: an access token's user (`sub`, `name`, `ver`, the
    credentials version it was issued under) or a session cookie's session id (`sid`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    iss: str
    typ: str
    iat: int
    exp: int
    sub: str | None = None
    name: str | None = None
    ver: int | None = None
    sid: str | None = None


async def signing_secret(session: AsyncSession, configured: str | None) -> str:
    """The configured key, else one generated once and kept in the database, so that every
    replica signs and checks with the same key and a restart logs nobody out."""
    if configured:
        return configured
    await session.execute(
        insert(signing_keys)
        .values(name="tokens", secret=secrets.token_urlsafe(48))
        .on_conflict_do_nothing(index_elements=[signing_keys.c.name])
    )
    secret = await session.scalar(
        select(signing_keys.c.secret).where(signing_keys.c.name == "tokens")
    )
    assert secret is not None
    return str(secret)


def sign(secret: str, kind: str, lifetime: float, **claims: Any) -> str:
    """A token of `kind` (access or session) that expires after `lifetime` seconds."""
    now = int(time.time())
    payload = {"iss": ISSUER, "typ": kind, "iat": now, "exp": now + int(lifetime), **claims}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify(secret: str, kind: str, token: str) -> Claims | None:
    """The claims of a valid, unexpired token of `kind`; None for anything else."""
    try:
        claims = Claims.model_validate(
            jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "typ"]},
            ),
            strict=True,
        )
    except (jwt.PyJWTError, ValidationError):
        return None
    return claims if claims.typ == kind else None


def looks_like_jwt(token: str) -> bool:
    """API keys have no dots; a JWT has exactly two."""
    return token.count(".") == 2

"""The platforms this CPO is connected to over OCPI, as stored: who a credentials token belongs
to, and each platform's state, tokens, version, endpoints and roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .credential_tokens import digest
from .db import platform_roles, platforms
from .ocpi.credentials import CredentialsRole
from .ocpi.types import ci_key
from .ocpi.versions import VersionDetails


class PlatformState(StrEnum):
    INVITED = "invited"  # handed token A; it has not registered yet
    REGISTERING = "registering"  # we are registering with it (our POST is in flight)
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called: the platform a presented credentials token belongs to."""

    platform_id: str
    state: PlatformState
    token: str  # as presented (a GET of credentials hands it back)


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform as stored."""

    id: str
    name: str
    state: PlatformState
    their_token: str | None
    versions_url: str | None
    version: str | None
    endpoints: list[dict[str, Any]]
    created_at: datetime
    registered_at: datetime | None
    unregistered_at: datetime | None
    unregistered_by: str | None
    roles: list[dict[str, Any]]


def now() -> datetime:
    return datetime.now(UTC)


def interface_url(endpoints: list[dict[str, Any]] | None, module: str, role: str) -> str | None:
    """The platform's `module` interface in `role` (SENDER, RECEIVER), None when it has none."""
    for endpoint in endpoints or []:
        if endpoint.get("identifier") == module and endpoint.get("role") == role:
            return str(endpoint["url"]).rstrip("/")
    return None


async def caller_of(session: AsyncSession, tokens: list[str]) -> Caller | None:
    """The live platform one of `tokens` (most likely first) belongs to; None for none."""
    for token in tokens:
        hashed = digest(token)
        row = (
            await session.execute(
                select(platforms.c.id, platforms.c.state).where(
                    or_(platforms.c.token_hash == hashed, platforms.c.pending_token_hash == hashed),
                    platforms.c.state != PlatformState.UNREGISTERED,
                )
            )
        ).first()
        if row is not None:
            return Caller(row.id, PlatformState(row.state), token)
    return None


async def create(
    session: AsyncSession,
    name: str,
    state: PlatformState,
    token: str,
    *,
    versions_url: str | None = None,
) -> str:
    """A new platform that calls us with `token` (A while invited, B while registering)."""
    platform_id = str(uuid.uuid4())
    await session.execute(
        insert(platforms).values(
            id=platform_id,
            name=name,
            state=state,
            token_hash=digest(token),
            versions_url=versions_url,
        )
    )
    return platform_id


async def lock(session: AsyncSession, platform_id: str) -> PlatformState | None:
    """The platform's state, its row locked for this transaction; None when it is not there."""
    state = (
        await session.execute(
            select(platforms.c.state).where(platforms.c.id == platform_id).with_for_update()
        )
    ).scalar_one_or_none()
    return None if state is None else PlatformState(state)


async def taken_roles(
    session: AsyncSession, roles: list[CredentialsRole], platform_id: str
) -> list[str]:
    """Of `roles`, those another platform already plays, as `CC-PID ROLE`."""
    taken: list[str] = []
    for role in roles:
        found = (
            await session.execute(
                select(platform_roles.c.platform_id).where(
                    platform_roles.c.country_code == ci_key(role.country_code),
                    platform_roles.c.party_id == ci_key(role.party_id),
                    platform_roles.c.role == role.role.value,
                    platform_roles.c.platform_id != platform_id,
                )
            )
        ).first()
        if found is not None:
            taken.append(f"{ci_key(role.country_code)}-{ci_key(role.party_id)} {role.role.value}")
    return taken


async def store_registration(
    session: AsyncSession,
    platform_id: str,
    *,
    token_hash: str,
    their_token: str,
    versions_url: str,
    details: VersionDetails,
    roles: list[CredentialsRole],
) -> None:
    """The platform is registered: it calls us with the token of `token_hash`, we call it with
    `their_token` at `details`' endpoints, and it plays `roles` (replacing any it played)."""
    at = now()
    await session.execute(
        update(platforms)
        .where(platforms.c.id == platform_id)
        .values(
            state=PlatformState.REGISTERED,
            token_hash=token_hash,
            pending_token_hash=None,
            their_token=their_token,
            versions_url=versions_url,
            version=details.version,
            endpoints=[e.wire() for e in details.endpoints],
            registered_at=at,
            updated_at=at,
        )
    )
    await session.execute(delete(platform_roles).where(platform_roles.c.platform_id == platform_id))
    await session.execute(
        insert(platform_roles),
        [
            {
                "platform_id": platform_id,
                "role": role.role.value,
                "country_code": ci_key(role.country_code),
                "party_id": ci_key(role.party_id),
                "business_details": role.business_details.wire(),
            }
            for role in roles
        ],
    )


async def set_pending_token(
    session: AsyncSession, platform_id: str, token_hash: str | None
) -> None:
    """While a new token is being handed over, the platform may call with it too."""
    await session.execute(
        update(platforms)
        .where(platforms.c.id == platform_id)
        .values(pending_token_hash=token_hash, updated_at=now())
    )


async def end(session: AsyncSession, platform_id: str, by: str) -> None:
    """The platform is unregistered (`by` "us" or "them"): no token of either side works any
    more, its roles are free; the row stays for the record."""
    at = now()
    await session.execute(
        update(platforms)
        .where(platforms.c.id == platform_id)
        .values(
            state=PlatformState.UNREGISTERED,
            token_hash=None,
            pending_token_hash=None,
            their_token=None,
            unregistered_at=at,
            unregistered_by=by,
            updated_at=at,
        )
    )
    await session.execute(delete(platform_roles).where(platform_roles.c.platform_id == platform_id))


async def forget(session: AsyncSession, platform_id: str) -> None:
    """A registration of ours that failed before the platform knew us: no record is kept."""
    await session.execute(delete(platforms).where(platforms.c.id == platform_id))


async def get(session: AsyncSession, platform_id: str) -> Platform | None:
    found = await listed(session, platform_id=platform_id)
    return found[0] if found else None


async def listed(session: AsyncSession, *, platform_id: str | None = None) -> list[Platform]:
    """Every platform (newest first), or the one of `platform_id`."""
    query = select(platforms).order_by(platforms.c.created_at.desc(), platforms.c.id)
    if platform_id is not None:
        query = query.where(platforms.c.id == platform_id)
    rows = (await session.execute(query)).all()
    ids = [row.id for row in rows]
    roles: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for role in (
            await session.execute(
                select(platform_roles)
                .where(platform_roles.c.platform_id.in_(ids))
                .order_by(platform_roles.c.country_code, platform_roles.c.party_id)
            )
        ).all():
            roles.setdefault(role.platform_id, []).append(
                {
                    "role": role.role,
                    "country_code": role.country_code,
                    "party_id": role.party_id,
                    "business_details": role.business_details,
                }
            )
    return [
        Platform(
            id=row.id,
            name=row.name,
            state=PlatformState(row.state),
            their_token=row.their_token,
            versions_url=row.versions_url,
            version=row.version,
            endpoints=list(row.endpoints or []),
            created_at=row.created_at,
            registered_at=row.registered_at,
            unregistered_at=row.unregistered_at,
            unregistered_by=row.unregistered_by,
            roles=roles.get(row.id, []),
        )
        for row in rows
    ]


async def roles_of(session: AsyncSession, platform_id: str) -> list[tuple[str, str, str]]:
    """The roles a platform plays: (role, country code, party id), upper-case."""
    rows = await session.execute(
        select(platform_roles.c.role, platform_roles.c.country_code, platform_roles.c.party_id)
        .where(platform_roles.c.platform_id == platform_id)
        .order_by(platform_roles.c.country_code, platform_roles.c.party_id)
    )
    return [(r.role, r.country_code, r.party_id) for r in rows]

"""Real-time authorization (OCPI tokens, sender interface of the eMSP): a token whose whitelist
asks for it (NEVER, ALLOWED_OFFLINE) is authorized by its eMSP each time a station presents it,
with `POST {tokens}/{uid}/authorize?type=…` naming the location and EVSEs, within
ROAMING_AUTHORIZE_TIMEOUT.

The session-service decides (it asks here over RPC, `tokens.authorize`, and falls back on the
whitelist when no answer comes); this module asks and remembers. Every ask is stored with its
answer (`authorizations`). An ALLOWED is told again, without asking, to the same token at the
same station for ROAMING_AUTHORIZATION_REUSE seconds: the StartTransaction or TransactionEvent
that follows an Authorize is one authorization, as the driver sees it, not two. A Session of the
token that starts at that station then is AUTH_REQUEST with the eMSP's
`authorization_reference` (`started_by_request`).

What one station can make of it is bounded: a refusal is told again, without asking, to the same
token at the same station for REFUSAL_REUSE seconds (a card presented again and again costs the
eMSP one request), and an eMSP that did not answer (too slow, unreachable) is not asked again for
ROAMING_AUTHORIZE_TIMEOUT x BREAKER_TIMES seconds: every token of it then gets "no answer" at
once, the whitelist's fallback, instead of each ask holding an RPC slot for the whole timeout."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.contracts.resources_base import Page
from csms_shared.contracts.rpc_roaming import (
    AuthorizeToken,
    ListAuthorizations,
    RoamingAuthorization,
    TokenAuthorization,
)

from .db import authorizations, location_evses, locations, platforms, tokens
from .ocpi.cdrs import AuthMethod
from .ocpi.tokens import AllowedType, AuthorizationInfo, LocationReferences, TokenType
from .ocpi.types import ci_key
from .ocpi.versions import InterfaceRole, ModuleId
from .ocpi_client import OcpiClient, PartyError
from .platforms import PlatformState, interface_url, now
from .session_documents import Authorized
from .settings import Settings

log = logging.getLogger(__name__)

# ROAMING_AUTHORIZATION_REUSE's upper bound: a start this long after its ALLOWED still follows it.
_LONGEST_REUSE = timedelta(hours=1)
# A refusal at a station is told again for this long without asking.
REFUSAL_REUSE = timedelta(seconds=30)
# An eMSP that did not answer is not asked again for this many of its timeouts.
BREAKER_TIMES = 10
# The reasons of an ask the eMSP did not answer (timeouts, unreachable): the breaker reads them.
NO_ANSWER, UNREACHABLE = "no answer within", "unreachable:"


@dataclass(frozen=True, slots=True)
class _Token:
    """The token asked about, as stored, with its eMSP's platform."""

    country_code: str
    party_id: str
    uid: str
    type: str
    platform_id: str
    state: str
    their_token: str | None
    endpoints: list[dict[str, Any]] | None


async def _token(session: AsyncSession, asked: AuthorizeToken) -> _Token | None:
    row = (
        await session.execute(
            select(
                tokens.c.country_code,
                tokens.c.party_id,
                tokens.c.document["uid"].as_string().label("uid"),
                tokens.c.type,
                tokens.c.platform_id,
                platforms.c.state,
                platforms.c.their_token,
                platforms.c.endpoints,
            )
            .join(platforms, platforms.c.id == tokens.c.platform_id)
            .where(
                tokens.c.country_code == ci_key(asked.country_code),
                tokens.c.party_id == ci_key(asked.party_id),
                tokens.c.uid == ci_key(asked.uid),
                tokens.c.type == asked.type,
            )
        )
    ).first()
    return None if row is None else _Token(*row)


async def _where(session: AsyncSession, asked: AuthorizeToken) -> LocationReferences | None:
    """The published location of the station's EVSEs (Authorize names no EVSE, and a start
    follows it); None when none is published: the request then names no location."""
    query = (
        select(locations.c.id, location_evses.c.uid)
        .join(locations, locations.c.key == location_evses.c.location_key)
        .where(
            location_evses.c.charge_point_id == asked.charge_point_id,
            location_evses.c.removed_at.is_(None),
        )
        .order_by(locations.c.id, location_evses.c.evse_id)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return None
    location_id = rows[0].id
    return LocationReferences(
        location_id=location_id,
        evse_uids=[row.uid for row in rows if row.id == location_id],
    )


def _asked(
    token: tuple[str, str, str, str], charge_point_id: str, since: datetime, until: datetime
) -> Any:
    """The asks for `token` (country code, party id, uid, type) at the station between `since`
    (excluded) and `until`, newest first."""
    country_code, party_id, uid, type_ = token
    return (
        select(
            authorizations.c.allowed,
            authorizations.c.authorization_reference,
            authorizations.c.asked_at,
        )
        .where(
            authorizations.c.uid == ci_key(uid),
            authorizations.c.type == type_,
            authorizations.c.country_code == ci_key(country_code),
            authorizations.c.party_id == ci_key(party_id),
            authorizations.c.charge_point_id == charge_point_id,
            authorizations.c.asked_at > since,
            authorizations.c.asked_at <= until,
        )
        .order_by(authorizations.c.asked_at.desc(), authorizations.c.id.desc())
        .limit(1)
    )


async def authorize(
    session: AsyncSession, client: OcpiClient, settings: Settings, asked: AuthorizeToken
) -> TokenAuthorization:
    """Ask the token's eMSP whether it may charge at the station now (or tell an ALLOWED it
    gave moments ago); the answer is stored, whatever it is."""
    token = await _token(session, asked)
    if token is None:
        return TokenAuthorization(asked=False, reason="no such token")
    at = now()
    if (earlier := await _told(session, settings, token, asked.charge_point_id, at)) is not None:
        return earlier
    if (down := await _silent_since(session, settings, token.platform_id, at)) is not None:
        return TokenAuthorization(
            asked=False,
            reason=f"the eMSP did not answer at {down.isoformat()}; not asked again yet",
        )
    where = await _where(session, asked)
    info, reason = await _ask(client, settings, token, where)
    await session.execute(
        insert(authorizations).values(
            platform_id=token.platform_id,
            country_code=token.country_code,
            party_id=token.party_id,
            uid=ci_key(token.uid),
            type=token.type,
            charge_point_id=asked.charge_point_id,
            location_id=None if where is None else where.location_id,
            allowed=None if info is None else info.allowed.value,
            authorization_reference=None if info is None else info.authorization_reference,
            reason=None if reason is None else reason[:300],
            asked_at=at,
        )
    )
    if info is None:
        log.warning(
            "no real-time authorization of token %s-%s %s at %s: %s",
            token.country_code,
            token.party_id,
            token.uid,
            asked.charge_point_id,
            reason,
        )
        return TokenAuthorization(asked=True, reason=reason)
    return TokenAuthorization(
        allowed=info.allowed.value,
        authorization_reference=info.authorization_reference,
        asked=True,
        reason=None if info.info is None else info.info.text,
    )


async def _told(
    session: AsyncSession, settings: Settings, token: _Token, charge_point_id: str, at: datetime
) -> TokenAuthorization | None:
    """An answer the eMSP gave for the token at the station moments ago, to tell again: an
    ALLOWED within ROAMING_AUTHORIZATION_REUSE, a refusal within REFUSAL_REUSE."""
    key = (token.country_code, token.party_id, token.uid, token.type)
    reuse = timedelta(seconds=settings.authorization_reuse)
    found = (
        await session.execute(
            _asked(key, charge_point_id, at - max(reuse, REFUSAL_REUSE), at).where(
                authorizations.c.allowed.is_not(None)
            )
        )
    ).first()
    if found is None:
        return None
    age = at - found.asked_at
    allowed = found.allowed == AllowedType.ALLOWED.value
    if age >= (reuse if allowed else REFUSAL_REUSE):
        return None
    return TokenAuthorization(
        allowed=found.allowed,
        authorization_reference=found.authorization_reference,
        asked=False,
    )


async def _silent_since(
    session: AsyncSession, settings: Settings, platform_id: str, at: datetime
) -> datetime | None:
    """When the eMSP last failed to answer, if within its breaker's time (BREAKER_TIMES of
    ROAMING_AUTHORIZE_TIMEOUT) and no answer came since."""
    window = timedelta(seconds=settings.authorize_timeout * BREAKER_TIMES)
    newest = (
        await session.execute(
            select(authorizations.c.asked_at, authorizations.c.allowed, authorizations.c.reason)
            .where(
                authorizations.c.platform_id == platform_id,
                authorizations.c.asked_at > at - window,
            )
            .order_by(authorizations.c.asked_at.desc(), authorizations.c.id.desc())
            .limit(1)
        )
    ).first()
    if newest is None or newest.allowed is not None:
        return None
    reason = newest.reason or ""
    if reason.startswith(NO_ANSWER) or reason.startswith(UNREACHABLE):
        return newest.asked_at  # type: ignore[no-any-return]
    return None


async def _ask(
    client: OcpiClient, settings: Settings, token: _Token, where: LocationReferences | None
) -> tuple[AuthorizationInfo | None, str | None]:
    """The eMSP's AuthorizationInfo, or why there is none."""
    if token.state != PlatformState.REGISTERED or token.their_token is None:
        return None, "the token's platform is not registered"
    base = interface_url(token.endpoints, ModuleId.TOKENS, InterfaceRole.SENDER)
    if base is None:
        return None, "the token's platform has no tokens sender interface"
    url = f"{base}/{quote(token.uid, safe='')}/authorize?type={TokenType(token.type).value}"
    routing = {
        "OCPI-from-country-code": settings.country_code,
        "OCPI-from-party-id": settings.party_id,
        "OCPI-to-country-code": token.country_code,
        "OCPI-to-party-id": token.party_id,
    }
    try:
        async with asyncio.timeout(settings.authorize_timeout):
            info: AuthorizationInfo = await client.call(
                "POST", url, token.their_token, AuthorizationInfo, body=where, routing=routing
            )
    except TimeoutError:
        return None, f"{NO_ANSWER} {settings.authorize_timeout:g} s"
    except PartyError as exc:
        if exc.http_status is None and exc.ocpi_status is None:
            return None, f"{UNREACHABLE} {exc}"
        return None, str(exc)
    return info, None


async def started_by_request(
    session: AsyncSession,
    token: tuple[str, str, str, str],
    charge_point_id: str,
    started_at: datetime,
) -> Authorized | None:
    """AUTH_REQUEST with the eMSP's `authorization_reference` when a transaction of `token`
    (country code, party id, uid, type) started at the station at `started_at` was authorized
    in real time: the last ask before the start (within the longest reuse) was answered
    ALLOWED; None otherwise (whitelisted, or accepted offline)."""
    # The station's clock may run a little ahead of ours: an ask up to a minute after counts.
    row = (
        await session.execute(
            _asked(
                token,
                charge_point_id,
                started_at - _LONGEST_REUSE,
                started_at + timedelta(seconds=60),
            )
        )
    ).first()
    if row is None or row.allowed != AllowedType.ALLOWED.value:
        return None
    return Authorized(AuthMethod.AUTH_REQUEST, row.authorization_reference)


async def listed(session: AsyncSession, params: ListAuthorizations) -> Page[RoamingAuthorization]:
    """The asks, newest first, for the operator."""
    where = []
    if params.platform_id is not None:
        where.append(authorizations.c.platform_id == params.platform_id)
    if params.uid is not None:
        where.append(authorizations.c.uid == ci_key(params.uid))
    total = (
        await session.execute(select(func.count()).select_from(authorizations).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(authorizations)
        .where(*where)
        .order_by(authorizations.c.id.desc())
        .offset(params.offset)
        .limit(params.limit)
    )
    items = [
        RoamingAuthorization.model_validate(
            {
                "id": row.id,
                "askedAt": row.asked_at,
                "countryCode": row.country_code,
                "partyId": row.party_id,
                "uid": row.uid,
                "type": row.type,
                "chargePointId": row.charge_point_id,
            }
            | {
                key: value
                for key, value in {
                    "platformId": row.platform_id,
                    "locationId": row.location_id,
                    "allowed": row.allowed,
                    "authorizationReference": row.authorization_reference,
                    "reason": row.reason,
                }.items()
                if value is not None
            }
        )
        for row in rows
    ]
    return Page[RoamingAuthorization](
        items=items, total=total, limit=params.limit, offset=params.offset
    )


async def prune(sessions: async_sessionmaker[AsyncSession], days: int) -> int:
    """Forget authorizations older than `days` (with the request log's retention)."""
    cutoff = now() - timedelta(days=days)
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(authorizations).where(authorizations.c.asked_at < cutoff)
        )
    return int(getattr(result, "rowcount", 0) or 0)

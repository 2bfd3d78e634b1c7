"""The tokens eMSPs push (OCPI tokens, receiver interface): stored as pushed, replaced by a PUT,
changed field by field by a PATCH, the newest `last_updated` winning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit, emit_many
from csms_shared.contracts.roaming_events import RoamingTokenChanged

from .db import outbox, tokens
from .ocpi.tokens import Token, TokenPatch, TokenType
from .ocpi.types import ci_key


@dataclass(frozen=True, slots=True)
class TokenKey:
    """A token's identity: its owner, uid and type, compared without case."""

    country_code: str
    party_id: str
    uid: str
    type: TokenType

    @classmethod
    def of(cls, country_code: str, party_id: str, uid: str, type_: TokenType) -> TokenKey:
        return cls(ci_key(country_code), ci_key(party_id), ci_key(uid), type_)

    def matches(self, token: Token) -> bool:
        return self == TokenKey.of(token.country_code, token.party_id, token.uid, token.type)

    def where(self) -> Any:
        return and_(
            tokens.c.country_code == self.country_code,
            tokens.c.party_id == self.party_id,
            tokens.c.uid == self.uid,
            tokens.c.type == self.type.value,
        )


async def get(session: AsyncSession, key: TokenKey) -> Token | None:
    document = (
        await session.execute(select(tokens.c.document).where(key.where()))
    ).scalar_one_or_none()
    return None if document is None else Token.model_validate(document)


async def put(session: AsyncSession, key: TokenKey, token: Token, platform_id: str) -> bool:
    """Store `token` (created or replaced) and publish `roaming.token_changed` with the
    commit; False when the stored one is newer (kept, nothing published)."""
    values = {
        "country_code": key.country_code,
        "party_id": key.party_id,
        "uid": key.uid,
        "type": key.type.value,
        "platform_id": platform_id,
        "contract_id": token.contract_id,
        "group_id": token.group_id,
        "valid": token.valid,
        "whitelist": token.whitelist.value,
        "document": token.wire(),
        "last_updated": token.last_updated,
    }
    stmt = insert(tokens).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[tokens.c.country_code, tokens.c.party_id, tokens.c.uid, tokens.c.type],
        set_={
            k: stmt.excluded[k]
            for k in values
            if k not in {"country_code", "party_id", "uid", "type"}
        }
        | {"received_at": func.now()},
        where=tokens.c.last_updated <= stmt.excluded.last_updated,
    )
    stored = await session.execute(stmt.returning(tokens.c.uid))
    if stored.first() is None:
        return False
    await emit(session, outbox, _changed(key, token, platform_id))
    return True


def _changed(key: TokenKey, token: Token, platform_id: str) -> RoamingTokenChanged:
    return RoamingTokenChanged(
        country_code=key.country_code,
        party_id=key.party_id,
        uid=token.uid,
        type=token.type.value,
        contract_id=token.contract_id,
        group_id=token.group_id,
        valid=token.valid,
        whitelist=token.whitelist.value,
        last_updated=token.last_updated,
        platform_id=platform_id,
    )


async def republish(
    session: AsyncSession, after: tuple[str, str, str, str] | None, limit: int
) -> tuple[int, tuple[str, str, str, str] | None]:
    """Publish `roaming.token_changed` again for up to `limit` stored tokens in key order after
    `after` (the session-service keeps them as they are: the same change twice is one): how
    many, and the key to go on after (None: the last page)."""
    key = tuple_(tokens.c.country_code, tokens.c.party_id, tokens.c.uid, tokens.c.type)
    query = select(tokens).order_by(key).limit(limit)
    if after is not None:
        query = query.where(key > tuple_(*(literal(v) for v in after)))
    rows = (await session.execute(query)).all()
    await emit_many(
        session,
        outbox,
        [
            _changed(
                TokenKey(r.country_code, r.party_id, r.uid, TokenType(r.type)),
                Token.model_validate(r.document),
                r.platform_id,
            )
            for r in rows
        ],
    )
    last = rows[-1] if len(rows) == limit else None
    return len(rows), None if last is None else (
        last.country_code,
        last.party_id,
        last.uid,
        last.type,
    )


async def patch(
    session: AsyncSession, key: TokenKey, change: TokenPatch, platform_id: str
) -> Token | bool | None:
    """Apply `change` to the stored token: the token as it is now; None when there is none;
    False when the stored one is newer than the change (kept as it is). ValueError when the
    result is not a valid Token (its message names the field)."""
    current = (
        await session.execute(
            select(tokens.c.document, tokens.c.last_updated).where(key.where()).with_for_update()
        )
    ).first()
    if current is None:
        return None
    if change.last_updated < current.last_updated:
        return False
    merged = Token.model_validate(
        current.document | change.model_dump(mode="json", exclude_unset=True)
    )
    await put(session, key, merged, platform_id)
    return merged


async def listed(
    session: AsyncSession,
    *,
    country_code: str | None,
    party_id: str | None,
    uid: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Token, str, datetime]], int]:
    """A page of the stored tokens (newest push first) with the platform that pushed each and
    when; and how many match."""
    where = []
    if country_code:
        where.append(tokens.c.country_code == ci_key(country_code))
    if party_id:
        where.append(tokens.c.party_id == ci_key(party_id))
    if uid:
        where.append(tokens.c.uid == ci_key(uid))
    total = (
        await session.execute(select(func.count()).select_from(tokens).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(tokens.c.document, tokens.c.platform_id, tokens.c.received_at)
        .where(*where)
        .order_by(tokens.c.received_at.desc(), tokens.c.uid)
        .limit(limit)
        .offset(offset)
    )
    return [(Token.model_validate(r.document), r.platform_id, r.received_at) for r in rows], total

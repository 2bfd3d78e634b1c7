"""Tokens of other companies' drivers (OCPI, pushed by their eMSPs to the roaming service): a
source the decision asks for an id token the authorization list does not hold, and entries of
the stations' local lists that ask for them. The decision stays auth.py's: a roaming token
becomes a list entry in our terms here.

What a roaming token earns (docs/roaming.md): valid and whitelisted (ALWAYS, ALLOWED, and
ALLOWED_OFFLINE, taken as the eMSP out of reach until real-time authorization is built) is
Accepted; not valid is Invalid; NEVER (real-time authorization only) is Unknown for now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from csms_shared.contracts.roaming_events import RoamingTokenChanged
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.vocabulary import AuthorizationDecision as D
from csms_shared.vocabulary import IdToken, IdTokenType
from csms_shared.vocabulary.local_lists import ListEntry

from .auth import IdTagRecord
from .db import roaming_tokens as rt

WHITELISTED = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE")
# OCPI's TokenType as the 2.0.1 idToken type a station presents it with (a 1.6 idTag is an
# ISO14443 UID): an RFID card is read as its UID; an app or other token is made up centrally.
_TYPES = {"RFID": IdTokenEnum.ISO14443.value}


def decision(valid: bool, whitelist: str) -> D:
    """What a roaming token earns on its own."""
    if not valid:
        return D.INVALID
    return D.ACCEPTED if whitelist in WHITELISTED else D.UNKNOWN


def _rank(row: Any) -> tuple[int, int, str, str]:
    """Of tokens of one uid at several eMSPs (or types), the one that decides: an accepted one
    first, then the owner's order (deterministic)."""
    earned = decision(row.valid, row.whitelist)
    return (
        0 if earned is D.ACCEPTED else 1,
        0 if row.type == "RFID" else 1,
        row.country_code,
        row.party_id,
    )


def record(row: Any) -> IdTagRecord | None:
    """The list entry a roaming token stands for; None when it earns nothing to say (Unknown:
    the caller treats it as not on the list)."""
    earned = decision(row.valid, row.whitelist)
    if earned is D.UNKNOWN:
        return None
    return IdTagRecord(
        id_tag=row.uid,
        status=earned,
        type=_TYPES.get(row.type, IdTokenEnum.CENTRAL.value),
    )


_BY_UID = select(
    rt.c.uid_key,
    rt.c.uid,
    rt.c.type,
    rt.c.country_code,
    rt.c.party_id,
    rt.c.valid,
    rt.c.whitelist,
).where(rt.c.uid_key == any_(bindparam("keys", type_=ARRAY(String))))


async def entries(session: AsyncSession, id_tags: Sequence[str]) -> dict[str, IdTagRecord]:
    """The list entries the roaming tokens of `id_tags` stand for, by lower-cased id tag (those
    with none left out). One statement for them all."""
    keys = sorted({tag.lower() for tag in id_tags})
    if not keys:
        return {}
    rows: list[Any] = list((await session.execute(_BY_UID, {"keys": keys})).all())
    best: dict[str, Any] = {}
    for row in rows:
        if row.uid_key not in best or _rank(row) < _rank(best[row.uid_key]):
            best[row.uid_key] = row
    found = {key: record(row) for key, row in best.items()}
    return {key: entry for key, entry in found.items() if entry is not None}


def list_entries(rows: Iterable[Any]) -> list[ListEntry]:
    """The entries the roaming tokens stand for in a station's Local Authorization List: one
    per uid, of those Accepted (the token that decides, as `entries` picks it), by uid."""
    best: dict[str, Any] = {}
    for row in rows:
        if decision(row.valid, row.whitelist) is not D.ACCEPTED:
            continue
        if row.uid_key not in best or _rank(row) < _rank(best[row.uid_key]):
            best[row.uid_key] = row
    listed = []
    for key in sorted(best):
        row = best[key]
        kind = IdTokenType(_TYPES.get(row.type, IdTokenEnum.CENTRAL.value))
        try:
            token = IdToken(value=row.uid, type=kind)
        except ValidationError:
            continue  # OCPI allows a uid no station can present (blank, space-padded)
        listed.append(ListEntry(token=token, decision=D.ACCEPTED))
    return listed


_ACCEPTED = select(
    rt.c.uid_key, rt.c.uid, rt.c.type, rt.c.country_code, rt.c.party_id, rt.c.valid, rt.c.whitelist
).where(rt.c.valid, rt.c.whitelist.in_(WHITELISTED))


async def accepted_entries(session: AsyncSession) -> list[ListEntry]:
    """Every roaming token a station may accept, as local list entries (`list_entries`)."""
    return list_entries((await session.execute(_ACCEPTED)).all())


async def follow(session: AsyncSession, event: RoamingTokenChanged) -> None:
    """Keep a token as the roaming service published it (an older change never wins)."""
    stmt = insert(rt).values(
        country_code=event.country_code,
        party_id=event.party_id,
        uid=event.uid.upper(),
        type=event.type,
        uid_key=event.uid.lower(),
        contract_id=event.contract_id,
        valid=event.valid,
        whitelist=event.whitelist,
        last_updated=event.last_updated,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[rt.c.country_code, rt.c.party_id, rt.c.uid, rt.c.type],
            set_={
                "contract_id": stmt.excluded.contract_id,
                "valid": stmt.excluded.valid,
                "whitelist": stmt.excluded.whitelist,
                "last_updated": stmt.excluded.last_updated,
            },
            where=rt.c.last_updated <= stmt.excluded.last_updated,
        )
    )

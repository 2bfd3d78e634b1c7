"""Tokens of other companies' drivers (OCPI, pushed by their eMSPs to the roaming service): a
source the decision asks for an id token the authorization list does not hold, and entries of
the stations' local lists that ask for them. The decision stays auth.py's: a roaming token
becomes a list entry in our terms here.

What a roaming token earns (docs/roaming.md): not valid is Invalid; whitelist ALWAYS and
ALLOWED are Accepted as they are; NEVER and ALLOWED_OFFLINE are asked of the token's eMSP in
real time (the roaming service's `tokens.authorize`, within SESSION_ROAMING_AUTHORIZE_TIMEOUT),
and its answer decides (ALLOWED Accepted, BLOCKED Blocked, EXPIRED Expired, NO_CREDIT NoCredit,
NOT_ALLOWED NotAtThisLocation). Without an answer ALLOWED_OFFLINE is Accepted and NEVER is
Unknown (refused whatever SESSION_UNKNOWN_ID_TAGS says: the token is known, and its eMSP wants
every use asked).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from csms_shared.bus.rpc import RpcClient, RpcError
from csms_shared.contracts.roaming_events import RoamingTokenChanged
from csms_shared.contracts.rpc_roaming import AuthorizeToken, RoamingRpc
from csms_shared.ocpp.v201.enums import IdTokenEnum
from csms_shared.vocabulary import AuthorizationDecision as D
from csms_shared.vocabulary import IdToken, IdTokenType
from csms_shared.vocabulary.local_lists import ListEntry

from .auth import IdTagRecord
from .db import roaming_tokens as rt
from .router import Ctx

log = logging.getLogger(__name__)

WHITELISTED = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE")
# Whitelists whose tokens are asked of their eMSP each time (OCPI real-time authorization).
REAL_TIME = ("NEVER", "ALLOWED_OFFLINE")
# The eMSP's AllowedType in our terms.
_ALLOWED = {
    "ALLOWED": D.ACCEPTED,
    "BLOCKED": D.BLOCKED,
    "EXPIRED": D.EXPIRED,
    "NO_CREDIT": D.NO_CREDIT,
    "NOT_ALLOWED": D.NOT_AT_THIS_LOCATION,
}
# OCPI's TokenType as the 2.0.1 idToken type a station presents it with (a 1.6 idTag is an
# ISO14443 UID): an RFID card is read as its UID; an app or other token is made up centrally.
_TYPES = {"RFID": IdTokenEnum.ISO14443.value}


@dataclass(frozen=True, slots=True)
class Asker:
    """How a handler asks the roaming service for real-time authorizations: its RPC client
    (None: nobody is asked, as if no answer came) and how long it waits."""

    rpc: RpcClient | None
    timeout: float

    @classmethod
    def of(cls, ctx: Ctx) -> Asker:
        return cls(ctx.rpc, ctx.settings.roaming_authorize_timeout)


NOT_ASKING = Asker(None, 0.0)


def decision(valid: bool, whitelist: str) -> D:
    """What a roaming token earns on its own, without asking its eMSP."""
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


def _entry(row: Any, status: D) -> IdTagRecord:
    return IdTagRecord(
        id_tag=row.uid,
        status=status,
        type=_TYPES.get(row.type, IdTokenEnum.CENTRAL.value),
        roaming_party=f"{row.country_code}-{row.party_id}",
    )


def record(row: Any) -> IdTagRecord | None:
    """The list entry a roaming token stands for without asking its eMSP; None when it earns
    nothing to say (Unknown: the caller treats it as not on the list)."""
    earned = decision(row.valid, row.whitelist)
    return None if earned is D.UNKNOWN else _entry(row, earned)


_BY_UID = select(
    rt.c.uid_key,
    rt.c.uid,
    rt.c.type,
    rt.c.country_code,
    rt.c.party_id,
    rt.c.valid,
    rt.c.whitelist,
).where(rt.c.uid_key == any_(bindparam("keys", type_=ARRAY(String))))


async def entries(
    session: AsyncSession,
    asked: Sequence[tuple[str, str]],
    asker: Asker,
) -> list[IdTagRecord | None]:
    """For each (id tag, CP): the list entry its roaming token stands for, None when it has
    none. One statement for them all; the tokens that want real-time authorization are asked
    of their eMSPs side by side."""
    keys = sorted({tag.lower() for tag, _ in asked})
    if not keys:
        return []
    rows: list[Any] = list((await session.execute(_BY_UID, {"keys": keys})).all())
    best: dict[str, Any] = {}
    for row in rows:
        if row.uid_key not in best or _rank(row) < _rank(best[row.uid_key]):
            best[row.uid_key] = row
    wanted = {
        (tag.lower(), cp)
        for tag, cp in asked
        if (row := best.get(tag.lower())) is not None and row.valid and row.whitelist in REAL_TIME
    }
    pairs = sorted(wanted)
    answers = await asyncio.gather(*(_ask(asker, best[key], cp) for key, cp in pairs))
    decided = dict(zip(pairs, answers, strict=True))
    found: list[IdTagRecord | None] = []
    for tag, cp in asked:
        row = best.get(tag.lower())
        if row is None:
            found.append(None)
        elif (tag.lower(), cp) in decided:
            found.append(_as_record(row, decided[tag.lower(), cp]))
        else:
            found.append(record(row))
    return found


async def _ask(asker: Asker, row: Any, cp: str) -> D | None:
    """The eMSP's answer for the token at `cp` in our terms; None when none came."""
    if asker.rpc is None:
        return None
    params = AuthorizeToken(
        country_code=row.country_code,
        party_id=row.party_id,
        uid=row.uid,
        type=row.type,
        charge_point_id=cp,
    )
    try:
        answer = await asker.rpc.call(RoamingRpc.authorize_token, params, timeout=asker.timeout)
    except RpcError as exc:
        log.warning(
            "real-time authorization of %s-%s %s at %s failed (%s): the whitelist %s decides",
            row.country_code,
            row.party_id,
            row.uid,
            cp,
            exc,
            row.whitelist,
        )
        return None
    return None if answer.allowed is None else _ALLOWED[answer.allowed]


def _as_record(row: Any, answer: D | None) -> IdTagRecord:
    """What a real-time authorization earns: its answer, or without one the whitelist's
    fallback (ALLOWED_OFFLINE Accepted, NEVER Unknown)."""
    if answer is None:
        answer = D.ACCEPTED if row.whitelist == "ALLOWED_OFFLINE" else D.UNKNOWN
    return _entry(row, answer)


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

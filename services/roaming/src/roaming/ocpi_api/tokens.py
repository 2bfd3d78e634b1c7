"""/ocpi/2.2.1/tokens/{country_code}/{party_id}/{token_uid}[?type=]: the receiver interface an
eMSP pushes its tokens to (GET, PUT, PATCH; tokens are never deleted: a PUT sets `valid`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .. import token_store
from ..ocpi.tokens import Token, TokenPatch, TokenType
from ..ocpi.types import VERSION, Status, ci_key
from ..token_store import TokenKey
from .answers import OcpiError, envelope
from .routing import Route, Routed
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}/tokens")

CountryCode = Annotated[str, Path(pattern=r"^[A-Za-z]{2}$")]
PartyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{3}$")]
TokenUid = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[\x20-\x7E]+$")]
Type = Annotated[TokenType, Query(description="RFID when left out")]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.roaming
    return state


def _key(routed: Route, country_code: str, party_id: str, uid: str, type_: TokenType) -> TokenKey:
    """The token's key, once the caller may act for its owner (404 otherwise: another party's
    tokens are not its to see)."""
    owner = (ci_key(country_code), ci_key(party_id))
    if not routed.may_act_for(owner):
        raise OcpiError(
            f"{owner[0]}-{owner[1]} is not a party this platform may act for",
            Status.CLIENT_ERROR,
            404,
        )
    return TokenKey.of(country_code, party_id, uid, type_)


def _unknown(key: TokenKey) -> OcpiError:
    return OcpiError(
        f"no token {key.uid} ({key.type.value}) of {key.country_code}-{key.party_id}",
        Status.UNKNOWN_TOKEN,
        404,
    )


@router.get("/{country_code}/{party_id}/{token_uid}")
async def get_token(
    request: Request,
    routed: Routed,
    country_code: CountryCode,
    party_id: PartyId,
    token_uid: TokenUid,
    type: Type = TokenType.RFID,
) -> JSONResponse:
    """The token as stored here."""
    key = _key(routed, country_code, party_id, token_uid, type)
    async with _state(request).sessions() as session:
        found = await token_store.get(session, key)
    if found is None:
        raise _unknown(key)
    return routed.stamp(envelope(found))


@router.put("/{country_code}/{party_id}/{token_uid}")
async def put_token(
    request: Request,
    routed: Routed,
    country_code: CountryCode,
    party_id: PartyId,
    token_uid: TokenUid,
    body: Token,
    type: Type = TokenType.RFID,
) -> JSONResponse:
    """A new or replaced token; its country code, party id, uid and type must be the URL's."""
    key = _key(routed, country_code, party_id, token_uid, type)
    if not key.matches(body):
        raise OcpiError(
            "the token's country_code, party_id, uid and type must be the URL's",
            Status.INVALID_PARAMETERS,
            400,
        )
    async with _state(request).sessions.begin() as session:
        applied = await token_store.put(session, key, body, routed.platform_id)
    return routed.stamp(envelope(message=None if applied else "kept the stored token: it is newer"))


@router.patch("/{country_code}/{party_id}/{token_uid}")
async def patch_token(
    request: Request,
    routed: Routed,
    country_code: CountryCode,
    party_id: PartyId,
    token_uid: TokenUid,
    body: TokenPatch,
    type: Type = TokenType.RFID,
) -> JSONResponse:
    """Some fields of a stored token (`last_updated` always); 404 (2004) for a token not
    stored: PUT it."""
    key = _key(routed, country_code, party_id, token_uid, type)
    identity = (body.country_code, body.party_id, body.uid, body.type)
    wanted = (key.country_code, key.party_id, key.uid, key.type)
    for given, expected in zip(identity, wanted, strict=True):
        if (
            given is not None
            and (given if isinstance(given, TokenType) else ci_key(given)) != expected
        ):
            raise OcpiError(
                "a PATCH cannot change a token's country_code, party_id, uid or type",
                Status.INVALID_PARAMETERS,
                400,
            )
    try:
        async with _state(request).sessions.begin() as session:
            result = await token_store.patch(session, key, body, routed.platform_id)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise OcpiError(problems, Status.INVALID_PARAMETERS, 400) from exc
    if result is None:
        raise _unknown(key)
    return routed.stamp(
        envelope(message="kept the stored token: it is newer" if result is False else None)
    )

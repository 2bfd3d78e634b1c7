"""Who calls: the platform its credentials token belongs to (401 for none). A token A (an
invited platform) or a token being handed over (registering) opens versions and credentials
only; every other module wants a registered platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from ..credential_tokens import token_of
from ..ocpi.types import Status
from ..platforms import Caller, PlatformState, caller_of
from .answers import OcpiError
from .state import AppState


async def any_caller(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    """Versions and credentials: any live platform, token A included."""
    state: AppState = request.app.state.roaming
    tokens = token_of(authorization, accept_plain=state.settings.accept_plain_tokens)
    if not tokens:
        raise OcpiError(
            "Authorization: Token <base64 credentials token> is missing or malformed",
            Status.CLIENT_ERROR,
            401,
        )
    async with state.sessions() as session:
        caller = await caller_of(session, tokens)
    if caller is None:
        raise OcpiError("unknown credentials token", Status.CLIENT_ERROR, 401)
    request.state.ocpi_caller = caller.platform_id  # for the request log
    return caller


async def registered_caller(caller: Annotated[Caller, Depends(any_caller)]) -> Caller:
    """Every functional module: a registered platform only."""
    if caller.state is not PlatformState.REGISTERED:
        raise OcpiError(
            "this token opens versions and credentials only: register first",
            Status.CLIENT_ERROR,
            401,
        )
    return caller


AnyCaller = Annotated[Caller, Depends(any_caller)]
RegisteredCaller = Annotated[Caller, Depends(registered_caller)]

"""/ocpi/2.2.1/credentials: GET ours, POST to register, PUT to update, DELETE to unregister."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..ocpi.credentials import Credentials
from ..ocpi.types import VERSION
from ..registration import RegistrationRefused, our_credentials
from .answers import OcpiError, envelope
from .auth import AnyCaller
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}/credentials")


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.roaming
    return state


@router.get("")
async def get_credentials(request: Request, caller: AnyCaller) -> JSONResponse:
    """Our credentials, with the token the caller uses."""
    return envelope(our_credentials(_state(request).settings, caller.token))


async def _accept(
    request: Request, caller: AnyCaller, body: Credentials, update: bool
) -> JSONResponse:
    try:
        ours = await _state(request).registrations.accept(caller, body, update=update)
    except RegistrationRefused as exc:
        raise OcpiError(str(exc), exc.status, exc.http) from exc
    return envelope(ours)


@router.post("")
async def register(request: Request, caller: AnyCaller, body: Credentials) -> JSONResponse:
    """Register with token A: its endpoints are read with its token B, ours (token C) returned."""
    return await _accept(request, caller, body, update=False)


@router.put("")
async def update(request: Request, caller: AnyCaller, body: Credentials) -> JSONResponse:
    """New credentials of a registered platform: endpoints read again, a new token returned."""
    return await _accept(request, caller, body, update=True)


@router.delete("")
async def unregister(request: Request, caller: AnyCaller) -> JSONResponse:
    """The platform unregisters: its token and ours stop working."""
    try:
        await _state(request).registrations.ended_by_them(caller)
    except RegistrationRefused as exc:
        raise OcpiError(str(exc), exc.status, exc.http) from exc
    return envelope()

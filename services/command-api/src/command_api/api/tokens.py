"""`POST /auth/token`: a user's username and password for a short-lived access token."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from .. import problems
from ..accounts import tokens
from ..accounts.limiter import LoginLimits
from ..accounts.users import LoginRefused, login
from ..problems import ProblemError
from ..settings import Settings
from .deps import Session, State, api_router

router = api_router(429, tags=["auth"])


class AccessToken(BaseModel):
    """An OAuth2 bearer token (RFC 6749 §5.1)."""

    access_token: str
    token_type: str
    expires_in: int


def login_limits(settings: Settings) -> LoginLimits:
    """The failed-login limits the settings give."""
    return LoginLimits(
        per_user_and_address=settings.login_failures_per_user_and_address,
        per_address=settings.login_failures_per_address,
        window=timedelta(seconds=settings.login_failure_window_seconds),
        slow_after=settings.login_failures_per_username,
        delay=settings.login_delay_seconds,
        max_delay=settings.login_delay_max_seconds,
    )


def client_address(request: Request) -> str:
    """The caller's address as the failed-login limit counts it: uvicorn takes it from
    X-Forwarded-For of a proxy in `API_FORWARDED_ALLOW_IPS`. An IPv6 client counts by its /64:
    an end site is given at least that much (RFC 6177), so one attacker holds all of it."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@router.post(
    "/auth/token",
    response_model=AccessToken,
    responses=problems.responses(401, 503),
)
async def create_access_token(
    request: Request,
    response: Response,
    state: State,
    session: Session,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> AccessToken:
    """A signed access token (JWT) for a user, accepted as `Authorization: Bearer` on every
    route beside API keys; failed attempts are limited per username and per address."""
    settings = state.settings
    try:
        user = await login(
            session,
            state.passwords,
            form.username,
            form.password,
            client_address(request),
            login_limits(settings),
        )
    except LoginRefused as refused:
        raise ProblemError(429 if refused.limited else 401, str(refused)) from None
    lifetime = settings.access_token_seconds
    token = tokens.sign(
        state.signing_secret,
        tokens.ACCESS,
        lifetime,
        sub=user.id,
        name=user.username,
        ver=user.credentials_version,
    )
    # RFC 6749 5.1: a token answer must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return AccessToken(access_token=token, token_type="bearer", expires_in=lifetime)

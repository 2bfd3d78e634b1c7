"""Dependencies: the state the lifespan owns, the DB session, the caller's key and role."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from csms_shared.bus.rpc import RpcClient, RpcError, RpcUnavailable
from csms_shared.contracts.rpc import RpcMethod
from csms_shared.contracts.rpc_base import P, R
from csms_shared.ocpp import INT32_MAX

from .. import problems
from ..access_log import note_caller
from ..accounts.passwords import PasswordWork
from ..accounts.tokens import looks_like_jwt
from ..accounts.users import user_principal
from ..auth import Principal, Role, authenticate
from ..dispatcher import Dispatcher
from ..settings import Settings
from ..webhooks import Webhooks

log = logging.getLogger(__name__)


@dataclass
class AppState:
    """What the lifespan opens and every request shares."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    dispatcher: Dispatcher
    webhooks: Webhooks
    # argon2 for users' passwords, in a bounded pool of its own.
    passwords: PasswordWork
    # Signs access tokens and console cookies (the setting, or the key kept in the database).
    signing_secret: str = ""


async def get_state(request: Request) -> AppState:
    """The application state (async: FastAPI runs a plain `def` dependency in a thread)."""
    state: AppState = request.app.state.csms
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """A DB session per request; committed by the route when it writes."""
    async with state.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_only(request: Request) -> None:
    """422 for a query parameter the route does not take: a misspelt filter (`?isComplete=`)
    would otherwise be ignored and answer everything."""
    route = request.scope.get("route")
    if not isinstance(route, ResourceRoute) or not request.query_params:
        return
    declared = route.query_names
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in declared]
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"Unknown query parameter; this route takes: {takes}",
                }
                for name in unknown
            ]
        )


class ResourceRoute(APIRoute):
    """A route whose answer leaves out the fields the owning service left out."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)
        self.query_names = frozenset(_query_names(self.dependant))


def api_router(*problem_codes: int, tags: list[str] | None = None) -> APIRouter:
    """A router of the REST API: unknown query parameters refused, its errors documented."""
    return APIRouter(
        tags=list(tags or []),
        route_class=ResourceRoute,
        dependencies=[Depends(known_query_only)],
        responses=problems.responses(401, 403, 422, 503, *problem_codes),
    )


_bearer = HTTPBearer(
    auto_error=False,
    description="An API key or an access token from POST /auth/token: `Authorization: Bearer …`",
)


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting keys whose role includes `role` (401 without a key, 403 too low)."""

    async def dependency(
        state: State,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            log.warning("authentication failed: no bearer key")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "An API key is required: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # One autocommit read on a connection of its own (no BEGIN and ROLLBACK round trips);
        # the route's session stays free for the route's transaction.
        async with state.engine.connect() as connection:
            reader = await connection.execution_options(isolation_level="AUTOCOMMIT")
            token = credentials.credentials
            principal = await (
                user_principal(reader, state.signing_secret, token)
                if looks_like_jwt(token)
                else authenticate(reader, token)
            )
        if principal is None:
            # Never the key, nor part of it: a fingerprint to tell repeated attempts apart.
            fingerprint = hashlib.sha256(credentials.credentials.encode()).hexdigest()[:12]
            log.warning("authentication failed: unknown or revoked key (sha256 %s)", fingerprint)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Unknown or revoked API key, or an invalid or expired access token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        note_caller(principal.name)
        if not principal.may(role):
            log.warning("key %r refused: needs the %s role", principal.name, role.value)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"This needs the {role.value} role or above"
            )
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def rpc_client(state: AppState) -> RpcClient:
    """The RPC client of this replica."""
    assert state.dispatcher.rpc is not None
    return state.dispatcher.rpc


async def call(
    state: AppState, method: RpcMethod[P, R], params: P, timeout: float | None = None
) -> R:
    """The result of an owning service's RPC method, as its model; its errors become HTTP
    errors (`rpc_errors`). `timeout`: for a method that waits on something slower than a read
    (API_RPC_TIMEOUT by default)."""
    with rpc_errors(method.service):
        return await rpc_client(state).call(
            method, params, timeout=timeout or state.settings.rpc_timeout
        )


@contextmanager
def rpc_errors(service: str) -> Iterator[None]:
    """An RPC of `service` failing becomes an HTTP error: 503 when it is not available, 404,
    422 or 409 for what it answered `not_found`, `invalid` or `conflict`, else 502."""
    try:
        yield
    except RpcUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"{service} is not available: {exc.message}"
        ) from None
    except RpcError as exc:
        code = {
            "not_found": status.HTTP_404_NOT_FOUND,
            "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
            "conflict": status.HTTP_409_CONFLICT,
        }.get(exc.code, status.HTTP_502_BAD_GATEWAY)
        raise HTTPException(code, exc.message) from None


# Offsets beyond this are not a page anyone wants, and must fit a 64-bit database integer.
MAX_OFFSET = INT32_MAX

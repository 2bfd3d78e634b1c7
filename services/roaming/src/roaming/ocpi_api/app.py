"""The OCPI FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException

from ..ocpi_client import OcpiClient
from ..registration import Registrations
from ..settings import Settings
from . import commands, credentials, locations, sessions_cdrs, tariffs, tokens, versions
from .answers import MessageIds, OcpiError, http_error, invalid_body, ocpi_error
from .request_log import RequestLog
from .state import AppState


def create_app(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    client: OcpiClient | None = None,
) -> FastAPI:
    """The OCPI interface over `sessions`; `client` calls the parties (one of its own when
    none is given, closed with the app)."""
    own_client = client is None
    calls = client or OcpiClient(settings.request_timeout, settings.networks())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_client:
            await calls.close()

    app = FastAPI(
        title="CSMS OCPI 2.2.1 (CPO)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.roaming = AppState(
        settings=settings, sessions=sessions, registrations=Registrations(sessions, calls, settings)
    )
    app.add_exception_handler(OcpiError, ocpi_error)
    app.add_exception_handler(RequestValidationError, invalid_body)
    app.add_exception_handler(HTTPException, http_error)
    for module in (versions, credentials, locations, sessions_cdrs, tariffs, tokens, commands):
        app.include_router(module.router)
    app.add_middleware(MessageIds)
    app.add_middleware(RequestLog, sessions=sessions)
    return app

"""The operator console: server-rendered pages (Jinja2 + htmx) on the API's port."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import (
    admin,
    charging,
    composite,
    docs,
    live,
    login,
    messages,
    profiles,
    roaming,
    sites,
    stations,
    tariffs,
)
from .web import STATIC, ConsoleHeaders, Forbidden, LoginRequired, forbidden, login_required


def install(app: FastAPI) -> None:
    """Serve the console at `/` and its assets at `/static` (no CDN: air-gapped sites work)."""
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    pages = (
        login,
        stations,
        messages,
        charging,
        tariffs,
        sites,
        roaming,
        profiles,
        composite,
        admin,
        live,
        docs,
    )
    for module in pages:
        app.include_router(module.router)
    app.add_middleware(ConsoleHeaders)

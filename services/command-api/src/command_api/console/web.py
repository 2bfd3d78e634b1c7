"""What every console page shares: templates, the signed-in user, CSRF, security headers."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..accounts import sessions as console_sessions
from ..api.deps import AppState, State
from ..auth import Principal, Role
from .formats import duration, kwh, money

HERE = Path(__file__).parent
STATIC = HERE / "static"
HTMX_VERSION = "2.0.4"

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(kwh=kwh, money=money, duration=duration)

# No inline script or style anywhere: what a CP sends can never run in an operator's browser.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# The REST API and its Swagger page keep their own headers.
_NOT_CONSOLE = ("/api/", "/docs", "/redoc", "/openapi.json")


class ConsoleHeaders:
    """Content-Security-Policy, X-Frame-Options and friends on every console response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(_NOT_CONSOLE):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LoginRequired(Exception):
    """No valid session: the browser goes to the login page."""


class Forbidden(Exception):
    """The signed-in user's role does not allow this, or the CSRF token is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Page:
    """A console request: the app state, the signed-in user and their CSRF token."""

    request: Request
    state: AppState
    principal: Principal
    username: str
    display_name: str
    user_id: str
    csrf_token: str
    session_id: str

    def may(self, role: Role) -> bool:
        """True when the user's role includes `role`."""
        return self.principal.may(role)

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page or fragment rendered for this user."""
        html = templates.get_template(template).render(page=self, Role=Role, **context)
        return HTMLResponse(html, status_code)

    def outcome(self, status_code: int, **context: Any) -> HTMLResponse:
        """What came of a form: htmx swaps only 2xx answers in, so it gets 200 and the status
        in words (a plain form post gets the status itself)."""
        htmx = self.request.headers.get("hx-request") == "true"
        return self.render("outcome.html", 200 if htmx else status_code, **context)

    def refused(self, failed: str, exc: ValidationError | HTTPException) -> HTMLResponse:
        """A form whose action did not happen: `failed` ("Not saved"), then why: its fields
        (422) or the API's answer (its status)."""
        if isinstance(exc, ValidationError):
            return self.outcome(422, ok=False, text=f"{failed}: {field_errors(exc)}")
        return self.outcome(exc.status_code, ok=False, text=f"{failed}: {exc.detail}")

    async def form(self) -> FormData:
        """The posted form, its CSRF token checked (Forbidden when missing or wrong)."""
        form = await self.request.form()
        given = self.request.headers.get("x-csrf-token") or str(form.get("csrf_token") or "")
        if not hmac.compare_digest(given.encode(), self.csrf_token.encode()):
            raise Forbidden("The form's CSRF token is missing or wrong: reload the page")
        return form


def shown(resource: BaseModel) -> Any:
    """A resource as the REST API shows it (its camelCase JSON), for a template: the console
    renders the documents the API answers."""
    return resource.model_dump(mode="json", by_alias=True, exclude_unset=True)


def field_errors(exc: ValidationError) -> str:
    """What is wrong with a form, field by field."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def session_lifetime(state: AppState) -> timedelta:
    """How long a console session lasts."""
    return timedelta(hours=state.settings.session_hours)


def secure_cookies(request: Request, state: AppState) -> bool:
    """Secure cookies over TLS: `API_COOKIE_SECURE`, else the request's scheme (uvicorn takes
    it from X-Forwarded-Proto of a proxy in `API_FORWARDED_ALLOW_IPS`)."""
    forced = state.settings.cookie_secure
    return forced if forced is not None else request.url.scheme == "https"


async def current_page(request: Request, state: State) -> Page:
    """The signed-in user of this request, or LoginRequired."""
    sid = console_sessions.session_id_of(
        state.signing_secret, request.cookies.get(console_sessions.COOKIE)
    )
    if sid is None:
        raise LoginRequired
    async with state.sessions() as session:
        live = await console_sessions.load(session, sid)
    if live is None:
        raise LoginRequired
    user = live.user
    return Page(
        request,
        state,
        user.principal,
        user.username,
        user.display_name,
        user.id,
        live.csrf_token,
        sid,
    )


def role(needed: Role) -> Callable[..., Awaitable[Page]]:
    """A dependency admitting signed-in users whose role includes `needed` (403 otherwise)."""

    async def dependency(page: Annotated[Page, Depends(current_page)]) -> Page:
        if not page.may(needed):
            raise Forbidden(f"This needs the {needed.value} role or above")
        return page

    return dependency


ViewerPage = Annotated[Page, Depends(role(Role.VIEWER))]
OperatorPage = Annotated[Page, Depends(role(Role.OPERATOR))]
AdminPage = Annotated[Page, Depends(role(Role.ADMIN))]


async def login_required(request: Request, exc: Exception) -> Response:
    """To the login page, coming back here after (htmx follows HX-Redirect)."""
    target = "/login"
    if request.method == "GET" and request.url.path != "/":
        target += "?next=" + request.url.path
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


async def forbidden(request: Request, exc: Exception) -> Response:
    """A 403 page saying why; nothing was changed."""
    message = exc.message if isinstance(exc, Forbidden) else "Forbidden"
    html = templates.get_template("forbidden.html").render(message=message, page=None, Role=Role)
    return HTMLResponse(html, 403)

"""Login, logout and password change."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..accounts import sessions as console_sessions
from ..accounts.passwords import Busy
from ..accounts.users import AccountError, LoginRefused, confirm_password, login, set_password
from ..api.deps import AppState, State
from ..api.tokens import client_address, login_limits
from ..auth import Role
from .web import ViewerPage, secure_cookies, session_lifetime, templates

router = APIRouter(include_in_schema=False)

# Login CSRF (a stranger's site logging you in as them): a double-submit cookie.
LOGIN_CSRF = "csms_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: no `//host` or `/\\host` open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _login_page(
    request: Request, state: AppState, error: str | None = None, status: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    html = templates.get_template("login.html").render(
        page=None,
        Role=Role,
        csrf_token=token,
        error=error,
        next=_safe_next(request.query_params.get("next")),
    )
    response = HTMLResponse(html, status)
    response.set_cookie(
        LOGIN_CSRF,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        path="/login",
        secure=secure_cookies(request, state),
    )
    return response


@router.get("/login")
async def login_form(request: Request, state: State) -> Response:
    """The login page."""
    return _login_page(request, state)


@router.post("/login")
async def log_in(request: Request, state: State) -> Response:
    """Check the username and password; a new session (and cookie) on success."""
    form = await request.form()
    given = str(form.get("csrf_token") or "")
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        expired = "The form expired or its CSRF token is wrong: try again"
        return _login_page(request, state, expired, 403)
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:256]
    async with state.sessions() as session:
        try:
            user = await login(
                session,
                state.passwords,
                username,
                password,
                client_address(request),
                login_limits(state.settings),
            )
        except LoginRefused as refused:
            return _login_page(request, state, str(refused), 429 if refused.limited else 401)
        except Busy as busy:
            return _login_page(request, state, str(busy), 503)
        async with session.begin():
            # Rotated at login: a session id planted before it is never the signed-in one.
            old = console_sessions.session_id_of(
                state.signing_secret, request.cookies.get(console_sessions.COOKIE)
            )
            if old:
                await console_sessions.end(session, old)
            sid, _ = await console_sessions.start(session, user, session_lifetime(state))
    response = RedirectResponse(_safe_next(str(form.get("next") or "")), 303)
    lifetime = session_lifetime(state)
    secure = secure_cookies(request, state)
    response.set_cookie(
        console_sessions.COOKIE,
        console_sessions.cookie_value(state.signing_secret, sid, lifetime),
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.delete_cookie(LOGIN_CSRF, path="/login", secure=secure)
    return response


@router.post("/logout")
async def log_out(page: ViewerPage) -> Response:
    """End the session: its row goes, the cookie is cleared."""
    await page.form()
    async with page.state.sessions() as session, session.begin():
        await console_sessions.end(session, page.session_id)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(console_sessions.COOKIE, secure=secure_cookies(page.request, page.state))
    return response


@router.get("/account/password")
async def password_form(page: ViewerPage) -> Response:
    """The password change form."""
    return page.render("password.html")


@router.post("/account/password")
async def change_password(page: ViewerPage) -> Response:
    """A new password for the signed-in user, after the current one; every session ends."""
    form = await page.form()
    current = str(form.get("current") or "")
    new = str(form.get("new") or "")
    if new != str(form.get("repeat") or ""):
        return page.render("password.html", 422, error="The two new passwords differ")
    address = client_address(page.request)
    limits = login_limits(page.state.settings)
    # Guessing here is guessing a login: counted against the username and the address alike.
    passwords = page.state.passwords
    async with page.state.sessions() as session:
        try:
            if not await confirm_password(
                session, passwords, page.user_id, current, address, limits
            ):
                return page.render("password.html", 422, error="The current password is wrong")
            async with session.begin():
                await set_password(session, passwords, page.user_id, new)
        except LoginRefused as refused:
            return page.render("password.html", 429, error=str(refused))
        except Busy as busy:
            return page.render("password.html", 503, error=str(busy))
        except AccountError as exc:
            return page.render("password.html", 422, error=str(exc))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(console_sessions.COOKIE, secure=secure_cookies(page.request, page.state))
    return response

"""The command audit log, and for admins: users and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from ..accounts.users import AccountError, change_user, create_user, list_users, set_password
from ..api import commands as command_api
from ..api import keys as key_api
from ..api import webhooks as webhook_api
from ..api.users import NewUser
from ..auth import Role
from ..models import Command, Page
from .web import AdminPage, ViewerPage, shown

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
UserId = Annotated[str, Path(max_length=36)]


@router.get("/commands")
async def commands(
    page: ViewerPage,
    cp: Annotated[str, Query(max_length=48)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(max_length=24)] = "",
    command_id: Annotated[str, Query(alias="commandId", max_length=36)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Who sent what to which charge point, and what came of it."""
    async with page.state.sessions() as session:
        if command_id:
            try:
                one = await command_api.get_command(session, page.principal, command_id)
            except HTTPException:
                found = Page[Command](items=[], total=0, limit=1, offset=0)
            else:
                found = Page[Command](items=[one], total=1, limit=1, offset=0)
        else:
            found = await command_api.list_commands(
                session,
                page.principal,
                limit=PAGE_SIZE,
                offset=offset,
                charge_point_id=cp or None,
                action=action or None,
                command_status=status or None,
            )
    return page.render(
        "commands.html",
        result=shown(found),
        cp=cp,
        action=action,
        status=status,
        offset=offset,
        page_size=PAGE_SIZE,
    )


@router.get("/users")
async def users(page: AdminPage) -> Response:
    """Every user, with the forms to change them."""
    async with page.state.sessions() as session:
        everyone = await list_users(session)
    return page.render("users.html", users=everyone, roles=[r.value for r in Role])


@router.post("/users")
async def add_user(page: AdminPage) -> Response:
    """Create a user."""
    form = await page.form()
    username = str(form.get("username") or "")
    role = str(form.get("role") or "")
    if role not in {r.value for r in Role}:
        return page.outcome(
            422, ok=False, text="Not created: the role is viewer, operator or admin"
        )
    try:
        body = NewUser(
            username=username,
            display_name=str(form.get("displayName") or ""),
            password=str(form.get("password") or ""),
            role=Role(role),
        )
        async with page.state.sessions() as session, session.begin():
            await create_user(
                session,
                page.state.passwords,
                body.username,
                body.display_name,
                body.password.get_secret_value(),
                body.role,
                page.principal.name,
            )
    except ValidationError as exc:
        return page.refused("Not created", exc)
    except AccountError as exc:
        return page.outcome(409, ok=False, text=f"Not created: {exc}")
    return page.outcome(200, ok=True, text=f"Created {username} ({role})")


@router.post("/users/{user_id}")
async def edit_user(page: AdminPage, user_id: UserId) -> Response:
    """Change a user's role or disabled flag, or reset their password."""
    form = await page.form()
    role = str(form.get("role") or "")
    disabled = {"yes": True, "no": False}.get(str(form.get("disabled") or ""))
    password = str(form.get("password") or "")
    try:
        async with page.state.sessions() as session, session.begin():
            user = await change_user(
                session,
                user_id,
                role=Role(role) if role in {r.value for r in Role} else None,
                disabled=disabled,
            )
            if password:
                await set_password(session, page.state.passwords, user_id, password)
    except AccountError as exc:
        return page.outcome(422, ok=False, text=f"Not changed: {exc}")
    state = "disabled" if user.disabled else "enabled"
    reset = ", password reset" if password else ""
    return page.outcome(200, ok=True, text=f"{user.username}: {user.role.value}, {state}{reset}")


@router.get("/api-keys")
async def api_keys(page: AdminPage) -> Response:
    """API keys: create (shown once), list, revoke."""
    async with page.state.sessions() as session:
        keys = await key_api.list_api_keys(session, page.principal)
    return page.render("api_keys.html", keys=shown(keys)["items"], roles=[r.value for r in Role])


@router.post("/api-keys")
async def add_api_key(page: AdminPage) -> Response:
    """Create a key: the answer shows it this once."""
    form = await page.form()
    try:
        body = key_api.NewKey(name=str(form.get("name") or ""), role=str(form.get("role") or ""))
    except ValidationError as exc:
        return page.refused("Not created", exc)
    async with page.state.sessions() as session:
        created = await key_api.create_api_key(session, page.principal, body, Response())
    answer = page.outcome(
        200,
        ok=True,
        text=f"Created {created.name}; copy the key now, it is not shown again",
        answer=created.key,
    )
    # The only page that ever holds the key: no browser or proxy keeps a copy.
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.post("/webhooks/{webhook_id}/enable")
async def enable_webhook(
    page: AdminPage, webhook_id: Annotated[str, Path(max_length=36)]
) -> Response:
    """Turn a webhook disabled for failing on again (its receiver fixed)."""
    await page.form()
    async with page.state.sessions() as session:
        try:
            await webhook_api.enable_webhook(page.state, session, page.principal, webhook_id)
        except HTTPException as exc:
            return page.outcome(exc.status_code, ok=False, text=str(exc.detail))
    return page.outcome(200, ok=True, text="Enabled")


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(page: AdminPage, key_id: Annotated[str, Path(max_length=36)]) -> Response:
    """Revoke a key."""
    await page.form()
    async with page.state.sessions() as session:
        try:
            await key_api.revoke_api_key(session, page.principal, key_id)
        except HTTPException as exc:
            return page.outcome(exc.status_code, ok=False, text=str(exc.detail))
    return page.outcome(200, ok=True, text="Revoked")

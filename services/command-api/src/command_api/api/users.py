"""Users: admins create them, change their role, disable them and reset their password."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from csms_shared.contracts.resources_base import DateTime, Omit

from .. import problems
from ..accounts.users import (
    USERNAME_PATTERN,
    AccountError,
    User,
    change_user,
    create_user,
    list_users,
    set_password,
)
from ..auth import Role
from ..models import Page, Resource
from ..problems import ProblemError
from .deps import Admin, Session, State, api_router

router = api_router(404, 409, tags=["users"])
UserId = Annotated[str, Path(alias="id", max_length=36)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class NewUser(_Body):
    """A person to give an account."""

    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(default="", max_length=100, pattern=r"^[^\x00]*$")
    password: SecretStr = Field(min_length=12, max_length=256)
    role: Role = Role.VIEWER


class UserChange(_Body):
    """What to change of a user."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    disabled: bool | None = None


class NewPassword(_Body):
    """A password an admin sets (a reset): the user's sessions and tokens end."""

    password: SecretStr = Field(min_length=12, max_length=256)


class UserResource(Resource):
    """A user (never the password hash)."""

    id: str
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: DateTime
    created_by: str | None = None
    last_login_at: Omit[DateTime] = None


def user_of(user: User) -> UserResource:
    """A user as the API shows it."""
    return UserResource(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        disabled=user.disabled,
        created_at=user.created_at,
        created_by=user.created_by,
        last_login_at=user.last_login_at,
    )


def _refused(exc: AccountError) -> ProblemError:
    message = str(exc)
    code = 404 if message == "No such user" else 409 if "exists" in message else 422
    return ProblemError(code, message)


@router.post("/users", status_code=201, response_model=UserResource)
async def create_user_account(
    state: State, session: Session, principal: Admin, body: NewUser
) -> UserResource:
    """Create a user (409 when the username is taken, 422 for a weak password)."""
    try:
        async with session.begin():
            user = await create_user(
                session,
                state.passwords,
                body.username,
                body.display_name,
                body.password.get_secret_value(),
                body.role,
                principal.name,
            )
    except AccountError as exc:
        raise _refused(exc) from None
    return user_of(user)


@router.get("/users", response_model=Page[UserResource])
async def list_user_accounts(session: Session, principal: Admin) -> Page[UserResource]:
    """Every user."""
    items = [user_of(u) for u in await list_users(session)]
    return Page[UserResource](items=items, total=len(items), limit=len(items), offset=0)


@router.patch("/users/{id}", response_model=UserResource)
async def change_user_account(
    session: Session, principal: Admin, user_id: UserId, body: UserChange
) -> UserResource:
    """Change a user's role, display name or disabled flag (disabling ends their sessions)."""
    try:
        async with session.begin():
            user = await change_user(
                session,
                user_id,
                role=body.role,
                disabled=body.disabled,
                display_name=body.display_name,
            )
    except AccountError as exc:
        raise _refused(exc) from None
    return user_of(user)


@router.put("/users/{id}/password", status_code=204, responses=problems.responses(404))
async def reset_user_password(
    state: State, session: Session, principal: Admin, user_id: UserId, body: NewPassword
) -> Response:
    """Set a user's password; their sessions and access tokens stop working."""
    try:
        async with session.begin():
            await set_password(session, state.passwords, user_id, body.password.get_secret_value())
    except AccountError as exc:
        raise _refused(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""API keys: admins create, list and revoke them; a key is shown once, when created."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from csms_shared.contracts.resources_base import DateTime, Omit

from .. import problems
from ..auth import Role, create_key
from ..db import api_keys
from ..models import Page, Resource
from .deps import Admin, Session, api_router

router = api_router(tags=["api keys"])


class NewKey(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00]+$")
    role: Role


class CreatedKey(Resource):
    """A key just created: the only answer that holds the key itself."""

    id: str
    name: str
    role: Role
    key: str


class ApiKey(Resource):
    """A key as listed: its first characters, never the key."""

    id: str
    name: str
    role: Role
    prefix: str
    created_at: DateTime
    created_by: str | None
    revoked_at: Omit[DateTime] = None


@router.post("/api-keys", status_code=201, response_model=CreatedKey)
async def create_api_key(
    session: Session, principal: Admin, body: NewKey, response: Response
) -> CreatedKey:
    """Create a key; the response holds the key itself, which is never shown again."""
    async with session.begin():
        key_id, key = await create_key(session, body.name, body.role, principal.name)
    response.headers["Cache-Control"] = "no-store"
    return CreatedKey(id=key_id, name=body.name, role=body.role, key=key)


@router.get("/api-keys", response_model=Page[ApiKey])
async def list_api_keys(session: Session, principal: Admin) -> Page[ApiKey]:
    """Every key (never the key itself: only its first characters)."""
    rows = (await session.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
    items = [
        ApiKey(
            id=r.id,
            name=r.name,
            role=Role(r.role),
            prefix=r.prefix,
            created_at=r.created_at,
            created_by=r.created_by,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]
    return Page[ApiKey](items=items, total=len(items), limit=len(items), offset=0)


@router.delete("/api-keys/{key_id}", status_code=204, responses=problems.responses(404))
async def revoke_api_key(
    session: Session, principal: Admin, key_id: Annotated[str, Path(max_length=36)]
) -> None:
    """Revoke a key; it stops working at once."""
    async with session.begin():
        result = await session.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(api_keys.c.id)
        )
        if result.first() is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No active key {key_id!r}")

"""API keys: admins create, list and revoke them; a key is shown once, when created."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from csms_shared.ocpp._base import DateTime, format_datetime

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
    revoked_at: DateTime | None = None


@router.post("/api-keys", status_code=201, response_model=CreatedKey)
async def create_api_key(session: Session, principal: Admin, body: NewKey) -> dict[str, Any]:
    """Create a key; the response holds the key itself, which is never shown again."""
    async with session.begin():
        key_id, key = await create_key(session, body.name, body.role, principal.name)
    return {"id": key_id, "name": body.name, "role": body.role.value, "key": key}


@router.get("/api-keys", response_model=Page[ApiKey])
async def list_api_keys(session: Session, principal: Admin) -> dict[str, Any]:
    """Every key (never the key itself: only its first characters)."""
    rows = (await session.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
    items = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "prefix": r.prefix,
            "createdAt": format_datetime(r.created_at),
            "createdBy": r.created_by,
            **({"revokedAt": format_datetime(r.revoked_at)} if r.revoked_at else {}),
        }
        for r in rows
    ]
    return {"items": items, "total": len(items), "limit": len(items), "offset": 0}


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

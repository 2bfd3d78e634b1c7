"""RPC methods on the authorization list: create, read, list, update, delete, block, unblock."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.ocpp.v16.datatypes import OcppDateTime

from . import params as p
from .db import id_tags
from .docs import id_tag_doc
from .router import Ctx, router

IdToken = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=20)]
StoredStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
t = id_tags.c


class _Fields(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")

    id_tag: IdToken
    expiry_date: OcppDateTime | None = None
    parent_id_tag: IdToken | None = None
    max_concurrent_tx: int | None = Field(default=None, ge=1, le=1000, strict=True)
    note: Annotated[str, StringConstraints(max_length=200)] | None = None


class IdTagCreate(_Fields):
    """A new entry: Accepted unless told otherwise."""

    status: StoredStatus = "Accepted"


class IdTagUpdate(_Fields):
    """Changed fields of an entry; a field sent as null is cleared."""

    status: StoredStatus | None = None


def _parse(model: type[_Fields], params: dict[str, Any]) -> Any:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise RpcError("invalid", problems) from None


def _match(id_tag: str) -> Any:
    return func.lower(t.id_tag) == id_tag.lower()


async def _load(session: AsyncSession, id_tag: str) -> Row[Any]:
    row = (await session.execute(select(id_tags).where(_match(id_tag)))).first()
    if row is None:
        raise RpcError("not_found", f"idTag {id_tag!r} is not in the list")
    return row


async def _set(session: AsyncSession, id_tag: str, values: dict[str, Any]) -> dict[str, Any]:
    row = (
        await session.execute(
            update(id_tags)
            .where(_match(id_tag))
            .values(**values, updated_at=func.now())
            .returning(id_tags)
        )
    ).first()
    if row is None:
        raise RpcError("not_found", f"idTag {id_tag!r} is not in the list")
    return id_tag_doc(row)


def _self_parent(fields: _Fields) -> None:
    if fields.parent_id_tag is not None and fields.parent_id_tag.lower() == fields.id_tag.lower():
        raise RpcError("invalid", "parentIdTag: an idTag cannot be its own parent")


@router.rpc("create_id_tag", callers={"command-api"})
async def create_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Add an idTag to the authorization list."""
    fields: IdTagCreate = _parse(IdTagCreate, params)
    _self_parent(fields)
    # ON CONFLICT meets the case-insensitive unique index, also when two creates race.
    row = (
        await ctx.session.execute(
            insert(id_tags)
            .values(**fields.model_dump())
            .on_conflict_do_nothing()
            .returning(id_tags)
        )
    ).first()
    if row is None:
        raise RpcError("conflict", f"idTag {fields.id_tag!r} is already in the list")
    return id_tag_doc(row)


@router.rpc("get_id_tag", callers={"command-api"})
async def get_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """One idTag of the list (found in any case)."""
    return id_tag_doc(await _load(ctx.session, p.required_string(params, "idTag", max_length=20)))


@router.rpc("list_id_tags", callers={"command-api"})
async def list_id_tags(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """A page of the list, by idTag; filters status, parentIdTag, and a search in idTag/note."""
    limit, offset = p.page(params)
    where: list[Any] = []
    if (status := p.string(params, "status", max_length=16)) is not None:
        where.append(t.status == status)
    if (parent := p.string(params, "parentIdTag", max_length=20)) is not None:
        where.append(func.lower(t.parent_id_tag) == parent.lower())
    if (search := p.string(params, "search", max_length=50)) is not None:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(t.id_tag.ilike(pattern), t.note.ilike(pattern)))
    total = await ctx.session.scalar(select(func.count()).select_from(id_tags).where(*where))
    rows = await ctx.session.execute(
        select(id_tags).where(*where).order_by(t.id_tag).limit(limit).offset(offset)
    )
    return {
        "items": [id_tag_doc(row) for row in rows],
        "total": int(total or 0),
        "limit": limit,
        "offset": offset,
    }


@router.rpc("update_id_tag", callers={"command-api"})
async def update_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Change an idTag's status, expiryDate, parentIdTag, maxConcurrentTx or note."""
    fields: IdTagUpdate = _parse(IdTagUpdate, params)
    _self_parent(fields)
    changed = fields.model_dump(include=fields.model_fields_set - {"id_tag"})
    if "status" in changed and changed["status"] is None:
        raise RpcError("invalid", "status: cannot be cleared")
    if not changed:
        return id_tag_doc(await _load(ctx.session, fields.id_tag))
    return await _set(ctx.session, fields.id_tag, changed)


@router.rpc("delete_id_tag", callers={"command-api"})
async def delete_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Remove an idTag from the list (its transactions stay)."""
    id_tag = p.required_string(params, "idTag", max_length=20)
    row = (
        await ctx.session.execute(delete(id_tags).where(_match(id_tag)).returning(t.id_tag))
    ).first()
    if row is None:
        raise RpcError("not_found", f"idTag {id_tag!r} is not in the list")
    return {"idTag": row.id_tag, "deleted": True}


@router.rpc("block_id_tag", callers={"command-api"})
async def block_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Set an idTag Blocked: Authorize and StartTransaction answer Blocked from now on."""
    id_tag = p.required_string(params, "idTag", max_length=20)
    return await _set(ctx.session, id_tag, {"status": "Blocked"})


@router.rpc("unblock_id_tag", callers={"command-api"})
async def unblock_id_tag(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """Set an idTag Accepted again (its expiryDate still applies)."""
    id_tag = p.required_string(params, "idTag", max_length=20)
    return await _set(ctx.session, id_tag, {"status": "Accepted"})

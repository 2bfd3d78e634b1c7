"""RPC methods on the authorization list: create, read, list, update, delete, block, unblock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import IdTagChanged
from csms_shared.contracts.resources import IdTag, Page
from csms_shared.contracts.rpc import (
    CreateIdTag,
    IdTagDeleted,
    ListIdTags,
    OfIdTag,
    SessionsRpc,
    UpdateIdTag,
)

from .db import id_tags
from .resources import id_tag_of
from .router import Ctx, router

t = id_tags.c


def _match(id_tag: str) -> Any:
    return func.lower(t.id_tag) == id_tag.lower()


async def _load(session: AsyncSession, id_tag: str, *, lock: bool = False) -> Row[Any]:
    query = select(id_tags).where(_match(id_tag))
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise RpcError("not_found", f"idTag {id_tag!r} is not in the list")
    return row


def _changed(
    row: Row[Any], change: Literal["created", "updated", "deleted"], before: Row[Any] | None = None
) -> IdTagChanged:
    """`id_tag.changed`: what local lists holding the tag or its group need to know."""
    return IdTagChanged(
        id_tag=row.id_tag,
        change=change,
        status=None if change == "deleted" else row.status,
        parent_id_tag=None if change == "deleted" else row.parent_id_tag,
        previous_parent_id_tag=(before or row).parent_id_tag if change != "created" else None,
    )


async def _set(ctx: Ctx, id_tag: str, values: Mapping[str, object]) -> IdTag:
    before = await _load(ctx.session, id_tag, lock=True)
    row = (
        await ctx.session.execute(
            update(id_tags)
            .where(_match(id_tag))
            .values(**values, updated_at=func.now())
            .returning(id_tags)
        )
    ).one()
    await ctx.emit(_changed(row, "updated", before))
    return id_tag_of(row)


@router.rpc(SessionsRpc.create_id_tag, callers={"command-api"})
async def create_id_tag(fields: CreateIdTag, ctx: Ctx) -> IdTag:
    """Add an idTag to the authorization list."""
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
    await ctx.emit(_changed(row, "created"))
    return id_tag_of(row)


@router.rpc(SessionsRpc.get_id_tag, callers={"command-api"})
async def get_id_tag(params: OfIdTag, ctx: Ctx) -> IdTag:
    """One idTag of the list (found in any case)."""
    return id_tag_of(await _load(ctx.session, params.id_tag))


@router.rpc(SessionsRpc.list_id_tags, callers={"command-api"})
async def list_id_tags(params: ListIdTags, ctx: Ctx) -> Page[IdTag]:
    """A page of the list, by idTag; filters status, parentIdTag, and a search in idTag/note."""
    limit, offset = params.limit, params.offset
    where: list[Any] = []
    if (status := params.status) is not None:
        where.append(t.status == status)
    if (parent := params.parent_id_tag) is not None:
        where.append(func.lower(t.parent_id_tag) == parent.lower())
    if (search := params.search) is not None:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(t.id_tag.ilike(pattern), t.note.ilike(pattern)))
    total = await ctx.session.scalar(select(func.count()).select_from(id_tags).where(*where))
    rows = await ctx.session.execute(
        select(id_tags).where(*where).order_by(t.id_tag).limit(limit).offset(offset)
    )
    return Page[IdTag](
        items=[id_tag_of(row) for row in rows], total=int(total or 0), limit=limit, offset=offset
    )


@router.rpc(SessionsRpc.update_id_tag, callers={"command-api"})
async def update_id_tag(fields: UpdateIdTag, ctx: Ctx) -> IdTag:
    """Change an idTag's status, expiryDate, parentIdTag, maxConcurrentTx or note."""
    changed = fields.model_dump(include=fields.model_fields_set - {"id_tag"})
    if not changed:
        return id_tag_of(await _load(ctx.session, fields.id_tag))
    return await _set(ctx, fields.id_tag, changed)


@router.rpc(SessionsRpc.delete_id_tag, callers={"command-api"})
async def delete_id_tag(params: OfIdTag, ctx: Ctx) -> IdTagDeleted:
    """Remove an idTag from the list (its transactions stay)."""
    id_tag = params.id_tag
    row = (
        await ctx.session.execute(delete(id_tags).where(_match(id_tag)).returning(id_tags))
    ).first()
    if row is None:
        raise RpcError("not_found", f"idTag {id_tag!r} is not in the list")
    await ctx.emit(_changed(row, "deleted"))
    return IdTagDeleted(id_tag=row.id_tag, deleted=True)


@router.rpc(SessionsRpc.block_id_tag, callers={"command-api"})
async def block_id_tag(params: OfIdTag, ctx: Ctx) -> IdTag:
    """Set an idTag Blocked: Authorize and StartTransaction answer Blocked from now on."""
    return await _set(ctx, params.id_tag, {"status": "Blocked"})


@router.rpc(SessionsRpc.unblock_id_tag, callers={"command-api"})
async def unblock_id_tag(params: OfIdTag, ctx: Ctx) -> IdTag:
    """Set an idTag Accepted again (its expiryDate still applies)."""
    return await _set(ctx, params.id_tag, {"status": "Accepted"})

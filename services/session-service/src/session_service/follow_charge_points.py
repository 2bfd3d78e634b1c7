"""Events the session-service follows about charge points: their tags (tariffs apply by tag)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from csms_shared.contracts.events import ChargePointUpdated

from .db import charge_point_tags
from .router import Ctx, router


@router.event("charge_point.updated")
async def charge_point_updated(event: ChargePointUpdated, ctx: Ctx) -> None:
    """Keep the CP's tags as the registry has them (an older announcement never wins)."""
    stmt = insert(charge_point_tags).values(
        charge_point_id=event.charge_point_id, tags=sorted(set(event.tags)), updated_at=event.at
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["charge_point_id"],
            set_={"tags": stmt.excluded.tags, "updated_at": stmt.excluded.updated_at},
            where=charge_point_tags.c.updated_at <= stmt.excluded.updated_at,
        )
    )

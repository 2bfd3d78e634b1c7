"""Which reservation a StartTransaction consumes, and whether one refuses its idTag."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from . import reservations
from .auth import IdTagRecord, reservation_admits


async def reservation_for_start(
    session: AsyncSession,
    cp_id: str,
    connector_id: int,
    id_tag: str,
    tag: IdTagRecord | None,
    reservation_id: int | None,
    at: datetime,
    warnings: list[str],
    held: list[reservations.Held] | None = None,
) -> tuple[int | None, bool]:
    """(the reservation to consume, whether the connector is reserved for another idTag).

    `held`: the reservations in force on the CP at `at`, if the caller read them already.
    """
    parent = tag.parent_id_tag if tag is not None else None
    if reservation_id is not None:
        named = await reservations.get(session, cp_id, reservation_id)
        if named is None or named.status != reservations.ACTIVE or named.expiry_date <= at:
            warnings.append(f"reservationId {reservation_id} is not in force on this charge point")
        elif reservation_admits(named.id_tag, named.parent_id_tag, id_tag, parent):
            return reservation_id, False
        else:
            warnings.append(f"reservation {reservation_id} is held for another idTag")
            return None, True
    if held is None:
        held = await reservations.in_force(session, cp_id, at)
    in_force = [x for x in held if x.connector_id in (connector_id, 0)]
    for held in in_force:
        # A CP that forgot the reservationId still consumes the reservation made for this tag.
        if reservation_admits(held.id_tag, held.parent_id_tag, id_tag, parent):
            return held.reservation_id, False
    # A reservation of connector 0 leaves the choice of connector to the CP (5.13); only one
    # of this very connector refuses other tags here.
    return None, any(held.connector_id == connector_id for held in in_force)

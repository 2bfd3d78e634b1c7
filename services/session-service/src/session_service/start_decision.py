"""The decision on a transaction's start, for both versions (a 1.6 StartTransaction's idTag,
a 2.0.1 transaction's first idToken): the token's authorization on that connector and the
reservation the start consumes. The entry modules (`action_start.py`, and `tx_event_values.py`
for 2.0.1) call it; it is written once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from . import reservations
from .auth import (
    Authorization,
    IdTagRecord,
    counts_open_transactions,
    id_tag_info,
    reservation_admits,
)
from .id_tags import count_open_transactions
from .settings import Settings


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
    for one in in_force:
        # A CP that forgot the reservationId still consumes the reservation made for this tag.
        if reservation_admits(one.id_tag, one.parent_id_tag, id_tag, parent):
            return one.reservation_id, False
    # A reservation of connector 0 leaves the choice of connector to the CP (5.13); only one
    # of this very connector refuses other tags here.
    return None, any(one.connector_id == connector_id for one in in_force)


async def decide_start(
    session: AsyncSession,
    settings: Settings,
    cp: str,
    connector: int,
    id_tag: str,
    reservation_id: int | None,
    at: datetime,
    warnings: list[str],
    tag: IdTagRecord | None,
    held: list[reservations.Held],
) -> tuple[Authorization, int | None]:
    """The idTag's status for a start on `connector` (StartTransaction's, and a 2.0.1
    transaction's first idToken), and the reservation the start consumes."""
    reservation, reserved_for_other = await reservation_for_start(
        session, cp, connector, id_tag, tag, reservation_id, at, warnings, held
    )
    active = 0
    if counts_open_transactions(tag):
        # Every accepted transaction the tag holds open counts, but one on this very connector:
        # the new start supersedes it.
        active = await count_open_transactions(session, id_tag, except_connector=(cp, connector))
    info = id_tag_info(
        tag,
        at=at,
        unknown=settings.unknown_id_tags,
        active_transactions=active,
        reserved_for_other=reserved_for_other,
    )
    return info, reservation

"""Security events other services raise (the load-manager's ImplausibleCurrentReading), kept in
the station's security log beside those the registry records itself."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from csms_shared.contracts.events import SecurityEvent

from .db import security_events
from .router import Ctx, router


@router.event("security.event")
async def security_event_raised(event: SecurityEvent, ctx: Ctx) -> None:
    """Keep a security event another service raised (not published again)."""
    # The registry's own events come back to it too: they are in the log already.
    if event.service is None or event.service == SecurityEvent.emitter:
        return
    await ctx.session.execute(
        insert(security_events).values(
            charge_point_id=event.charge_point_id[:48],
            type=event.type[:50],
            tech_info=None if event.tech_info is None else event.tech_info[:255],
            source=event.source[:8],
            timestamp=event.at,
        )
    )

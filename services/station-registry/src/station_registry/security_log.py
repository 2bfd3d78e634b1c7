"""A CP's security log and the news of its credentials, shared by the handlers that refuse,
report or change them: security events kept and published (`record_security_event`), refused
handshakes counted per CP, type and address a minute (`record_refusal`), and a change of
credentials told to every gateway (`credentials_changed`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal_column
from sqlalchemy.dialects.postgresql import insert

from csms_shared.contracts.events import CredentialsChanged, SecurityEvent
from csms_shared.ocpp._base import utcnow

from .db import security_events
from .router import Ctx


async def record_security_event(
    ctx: Ctx,
    cp_id: str,
    kind: str,
    tech_info: str | None,
    source: str = "csms",
    at: datetime | None = None,
) -> None:
    """Keep a security event and publish it as `security.event`."""
    at = at or utcnow()
    await ctx.session.execute(
        insert(security_events).values(
            charge_point_id=cp_id, type=kind, tech_info=tech_info, source=source, timestamp=at
        )
    )
    await ctx.emit(
        SecurityEvent(at=at, charge_point_id=cp_id, type=kind, tech_info=tech_info, source=source)
    )


async def record_refusal(ctx: Ctx, cp_id: str, kind: str, reason: str, address: str | None) -> None:
    """A refused handshake of a known CP as a security event: one row (and one
    `security.event`) per CP, type and address a minute; a repeat within it raises that row's
    count, so a guesser repeating a wrong key writes nothing new."""
    at = utcnow()
    e = security_events.c
    stmt = insert(security_events).values(
        charge_point_id=cp_id,
        type=kind,
        tech_info=reason,
        source="csms",
        timestamp=at,
        address=address or "",
        bucket=func.date_trunc("minute", func.now()),
    )
    inserted = await ctx.session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[e.charge_point_id, e.type, e.address, e.bucket],
            index_where=e.bucket.is_not(None),
            set_={"count": e.count + 1},
        ).returning(literal_column("xmax = 0"))
    )
    if inserted:
        await ctx.emit(
            SecurityEvent(at=at, charge_point_id=cp_id, type=kind, tech_info=reason, source="csms")
        )


async def credentials_changed(ctx: Ctx, cp_id: str, profile: int, disconnect: bool) -> None:
    """Tell every gateway: forget cached handshake decisions for this CP (never the key itself)
    and, with `disconnect`, close its live connections so it comes back with the new ones."""
    await ctx.emit(
        CredentialsChanged(charge_point_id=cp_id, security_profile=profile, disconnect=disconnect)
    )

"""What the system log shows besides the gateways' records: security events and the services'
warnings, recorded from the events that carry them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from csms_shared.bus.message_log import RecordKind
from csms_shared.contracts.events import SecurityEvent, SessionWarning
from csms_shared.ocpp._base import format_datetime, utcnow

from .db import records
from .records import level_of
from .router import Ctx, router


async def _record(ctx: Ctx, cp_id: str, kind: RecordKind, source: str, payload: Any) -> None:
    # Stored at its arrival: the day partitions exist from today on (an event may be older).
    await ctx.session.execute(
        insert(records).values(
            at=utcnow(),
            charge_point_id=cp_id[:48],
            kind=kind.value,
            payload=payload,
            size=0,
            gateway=source,
            level=level_of(kind, None, None, payload),
        )
    )


@router.event("security.event")
async def security_event(event: SecurityEvent, ctx: Ctx) -> None:
    """A security event (the CP's SecurityEventNotification, or one the CSMS saw)."""
    by = "reported by the charge point" if event.source == "cp" else "seen by the central system"
    summary = f"security event {event.type} ({by})"
    if event.tech_info:
        summary += f": {event.tech_info}"
    payload = {
        "summary": summary,
        "type": event.type,
        "techInfo": event.tech_info,
        "source": event.source,
        "timestamp": format_datetime(event.at),
    }
    source = event.service or event.emitter
    await _record(ctx, event.charge_point_id, RecordKind.SECURITY, source, payload)


@router.event("session.warning")
async def session_warning(event: SessionWarning, ctx: Ctx) -> None:
    """Input session-service accepted but found wrong, or a transaction flagged stale."""
    payload = {
        "summary": f"{event.subject}: {event.message}",
        "subject": event.subject,
        "transactionId": event.transaction_id,
        "timestamp": format_datetime(event.at),
    }
    await _record(ctx, event.charge_point_id, RecordKind.WARNING, event.emitter, payload)

"""What the CP-call handlers share: a call's receive time, its warnings, re-sends counted."""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import Counter

from csms_shared.contracts.events import SessionWarning
from csms_shared.ocpp._base import utcnow

from .router import CallCtx

log = logging.getLogger("session_service.action_authorize_meter_values")

DUPLICATES = Counter(
    "csms_session_duplicates_total",
    "Re-sent or redelivered messages recognised as copies",
    ["action"],
)


def received_at(ctx: CallCtx) -> datetime:
    """When the gateway received the call (now, if it did not say)."""
    return ctx.received_at or utcnow()


async def log_warnings(
    ctx: CallCtx, subject: str, warnings: list[str], transaction_id: int | None = None
) -> None:
    """Nonsensical-but-valid input is accepted; each oddity is logged with its CP and leaves as
    `session.warning` (the system log shows it) if the call's transaction commits."""
    for warning in warnings:
        log.warning("%s %s: %s", ctx.charge_point_id, subject, warning)
    if warnings:
        await ctx.emit_many(
            [
                SessionWarning(
                    at=received_at(ctx),
                    charge_point_id=ctx.charge_point_id,
                    subject=subject,
                    message=warning,
                    transaction_id=transaction_id,
                )
                for warning in warnings
            ]
        )

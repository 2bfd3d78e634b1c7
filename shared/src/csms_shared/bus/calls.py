"""Which CP calls are notifications (answered by the gateway) and what it answers."""

from __future__ import annotations

from typing import Any

from ..ocpp._base import format_datetime, utcnow

# ARCHITECTURE.md, "two kinds of calls": the response carries no decision, so the gateway
# answers once the broker has confirmed the persistent publish and the owner consumes a stream.
NOTIFICATIONS = frozenset(
    {
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "SignedFirmwareStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
    }
)


def notification_response(action: str) -> dict[str, Any]:
    """The CALLRESULT payload of a notification: empty, but Heartbeat's gateway clock."""
    if action == "Heartbeat":
        return {"currentTime": format_datetime(utcnow())}
    return {}

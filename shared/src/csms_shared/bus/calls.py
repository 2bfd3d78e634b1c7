"""What the gateway answers a notification (which calls are: `csms_shared.ocpp.catalog`)."""

from __future__ import annotations

from ..ocpp import JsonObject, format_datetime, utcnow


def notification_response(action: str) -> JsonObject:
    """The CALLRESULT payload of a notification: empty, but Heartbeat's gateway clock."""
    if action == "Heartbeat":
        return {"currentTime": format_datetime(utcnow())}
    return {}

"""Event bodies on `ocpp.events`: versioned JSON, past-tense names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..ocpp._base import format_datetime, utcnow

EVENT_VERSION = 1


def event_body(event: str, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """`{"v": 1, "event": "station.connected", "at": "…Z", …fields}`."""
    return {"v": EVENT_VERSION, "event": event, "at": format_datetime(at or utcnow()), **fields}

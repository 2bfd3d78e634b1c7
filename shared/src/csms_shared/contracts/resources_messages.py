"""The message-log service's resources: a CP's frames and the system log (see `resources.py`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..bus.message_log import MessageLogLevel
from .resources_base import Resource


class MessageRecord(Resource):
    """A frame to or from a CP, or an event of its connection."""

    at: str = Field(description="UTC, milliseconds")
    kind: str = Field(
        description="frame, malformed, connected, closed, refused, takeover, gap (records lost)"
    )
    direction: Literal["in", "out"] | None = None
    message_type_id: int | None = Field(default=None, description="2 CALL, 3 CALLRESULT, 4 ...")
    message_id: str | None = None
    action: str | None = Field(default=None, description="a CALLRESULT/CALLERROR: its CALL's")
    payload: Any = Field(default=None, description="CALLERROR: [code, description, details]")
    raw: str | None = Field(default=None, description="a malformed frame's text, truncated")
    size: int
    gateway: str
    connection_id: str | None = None


class MessagePage(Resource):
    """One page of a CP's records, newest first; `nextCursor` asks for the older ones."""

    items: list[MessageRecord]
    next_cursor: str | None = None
    limit: int


class LogEntry(Resource):
    """An entry of the system log."""

    at: str
    level: Literal["INFO", "WARNING", "ERROR"]
    charge_point_id: str
    message: str
    details: MessageRecord


class MessageLogLevelSet(Resource):
    """The level now set for a CP."""

    charge_point_id: str
    level: MessageLogLevel | None

"""The OCPP message log's contract: levels, record kinds, the bundle the gateways publish."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict

import orjson


class MessageLogLevel(StrEnum):
    """How much of a charge point's traffic the log keeps."""

    ALL = "all"
    ALL_BUT_HEARTBEAT = "all-but-heartbeat"
    OFF = "off"


class RecordKind(StrEnum):
    """What a record is: a frame, a frame that was not OCPP-J, or a connection's event."""

    FRAME = "frame"
    MALFORMED = "malformed"
    CONNECTED = "connected"
    CLOSED = "closed"
    REFUSED = "refused"
    TAKEOVER = "takeover"
    # Records of this CP the gateway dropped (buffer full, broker pushing back): `dropped`.
    GAP = "gap"
    # Not from a gateway: the message log service records these from events it follows.
    SECURITY = "security"  # a security event (security.event)
    WARNING = "warning"  # input session-service accepted but found wrong (session.warning)


# Routing key on ocpp.events: an admin changed a CP's level ({chargePointId, level|null}).
LEVEL_CHANGED = "message_log.level_changed"
# Header of a log bundle: how many records its body holds.
HEADER_RECORDS = "x-message-log-records"
# The record's fields, in the order of the tuple a gateway keeps and the keys it publishes.
FIELDS = ("cp", "at", "kind", "dir", "mt", "id", "action", "payload", "raw", "size", "conn")


# The payload of a gateway's connection event, by kind (camelCase: stored and shown as JSON).
class ConnectedDetails(TypedDict):
    """`connected`: where from, the subprotocol agreed on, the CP's security profile."""

    address: str
    subprotocol: str | None
    securityProfile: int | None
    gateway: str


class ClosedDetails(TypedDict):
    """`closed`: the WebSocket close code and reason, and who closed it first."""

    code: int | None
    reason: str
    by: str


class TakeoverDetails(TypedDict):
    """`takeover`: the CP connected to another gateway, which now holds it."""

    byGateway: str
    gateway: str


class RefusedDetails(TypedDict):
    """`refused`: a handshake of a known CP refused, and how many refusals the record stands
    for (`since`, ms since the epoch: when the first of a window's summed refusals came)."""

    status: int
    reason: str
    address: str
    gateway: str
    count: int
    since: NotRequired[int]


class GapDetails(TypedDict):
    """`gap`: how many of the CP's records the gateway dropped, since when (ms since the epoch)."""

    dropped: int
    since: int


EventDetails = ConnectedDetails | ClosedDetails | TakeoverDetails | RefusedDetails | GapDetails

Record = tuple[
    str,  # charge point id
    float,  # time, seconds since the epoch (UTC)
    str,  # RecordKind
    str | None,  # "in" (from the CP) or "out" (to the CP)
    int | None,  # OCPP message type id: 2 CALL, 3 CALLRESULT, 4 CALLERROR
    str | None,  # OCPP message id
    str | None,  # the action (of the CALL, for its CALLRESULT/CALLERROR)
    Any,  # the payload (a CALLERROR: [code, description, details]; an event: its details)
    str | None,  # a malformed frame's text, truncated
    int,  # bytes on the wire
    str | None,  # connection id
]


def wanted(level: MessageLogLevel, action: str | None) -> bool:
    """Whether a record of `action` (None: not a frame of one) is kept at `level`."""
    if level is MessageLogLevel.ALL:
        return True
    if level is MessageLogLevel.OFF:
        return False
    return action != "Heartbeat"


def encode_records(gateway: str, records: list[Record]) -> bytes:
    """The body of one log bundle; a record whose payload JSON cannot hold (an integer beyond
    64 bits) keeps its payload as text instead."""
    try:
        return orjson.dumps(
            {"gateway": gateway, "records": [dict(zip(FIELDS, r, strict=True)) for r in records]}
        )
    except TypeError:
        items = []
        for r in records:
            item = dict(zip(FIELDS, r, strict=True))
            try:
                orjson.dumps(item["payload"])
            except TypeError:
                item["raw"] = repr(item["payload"])[:4096]
                item["payload"] = None
            items.append(item)
        return orjson.dumps({"gateway": gateway, "records": items})

"""The statements StatusNotifications are stored with, whatever their number: each CP's last
seen, the EVSE-level 1.6-shaped `connectors`, every connector in our terms (`evse_connectors`)
and the history, each one statement over arrays of rows (`action_status.py` folds the
notifications into those rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeEngine

from csms_shared.vocabulary.connectors import ConnectorState as Status

from .db import TIMESTAMP, charge_points, connectors, evse_connectors, status_history

_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code", "evse_connector_id")


def inherited(name: str, cp_id: Any, connector_id: Any) -> Any:
    """`availability` or `availability_at` of a connector seen for the first time: the whole
    CP's (connector 0), as an accepted ChangeAvailability set it before the connector ever
    reported; else Operative and never. An existing connector keeps its own (the upserts do not
    set these on conflict)."""
    whole = aliased(connectors)
    found = (
        select(whole.c[name])
        .where(whole.c.charge_point_id == cp_id, whole.c.connector_id == 0, connector_id != 0)
        .scalar_subquery()
    )
    return func.coalesce(found, "Operative") if name == "availability" else found


def _unnest(name: str, **columns: Any) -> Any:
    """Rows from one array parameter per column (`columns`: name -> element type)."""
    arrays = [bindparam(key, type_=ARRAY(type_)) for key, type_ in columns.items()]
    derived = func.unnest(*arrays).table_valued(*(column(k, t) for k, t in columns.items()))
    return derived.render_derived(name=name)


# Last seen for many CPs: a CP's row is created if missing, last seen never moves backwards.
_SEEN_ROWS = _unnest("seen", id=String(), at=TIMESTAMP)
_seen_insert = insert(charge_points).from_select(
    ["id", "last_seen_at"], select(_SEEN_ROWS.c.id, _SEEN_ROWS.c.at)
)
SEEN_MANY = _seen_insert.on_conflict_do_update(
    index_elements=[charge_points.c.id],
    set_={
        "last_seen_at": func.greatest(
            func.coalesce(charge_points.c.last_seen_at, _seen_insert.excluded.last_seen_at),
            _seen_insert.excluded.last_seen_at,
        )
    },
)

STATUS_COLUMNS: dict[str, TypeEngine[Any]] = {
    "charge_point_id": String(),
    "connector_id": BigInteger(),
    "status": String(),
    "error_code": String(),
    "info": String(),
    "vendor_id": String(),
    "vendor_error_code": String(),
    "evse_connector_id": Integer(),
    "at": TIMESTAMP,
}

# One row per connector (ON CONFLICT DO UPDATE cannot touch a row twice in one statement), and
# only over a status that is not newer.
_CONNECTOR_ROWS = _unnest("connector_rows", **STATUS_COLUMNS)
_connector_insert = insert(connectors).from_select(
    ["charge_point_id", "connector_id", *_FIELDS, "status_at", "availability", "availability_at"],
    select(
        _CONNECTOR_ROWS.c.charge_point_id,
        _CONNECTOR_ROWS.c.connector_id,
        *(_CONNECTOR_ROWS.c[f] for f in _FIELDS),
        _CONNECTOR_ROWS.c.at,
        *(
            inherited(name, _CONNECTOR_ROWS.c.charge_point_id, _CONNECTOR_ROWS.c.connector_id)
            for name in ("availability", "availability_at")
        ),
    ),
)
UPSERT_CONNECTORS = _connector_insert.on_conflict_do_update(
    index_elements=[connectors.c.charge_point_id, connectors.c.connector_id],
    set_={
        **{f: _connector_insert.excluded[f] for f in _FIELDS},
        "status_at": _connector_insert.excluded.status_at,
    },
    where=or_(
        connectors.c.status_at.is_(None),
        connectors.c.status_at <= _connector_insert.excluded.status_at,
    ),
)

EVSE_COLUMNS: dict[str, TypeEngine[Any]] = {
    "charge_point_id": String(),
    "evse_id": BigInteger(),
    "connector_id": Integer(),
    "status": String(),
    "charging_state": String(),
    "error_code": String(),
    "info": String(),
    "vendor_error_code": String(),
    "status_at": TIMESTAMP,
}
_OURS = ("status", "error_code", "info", "vendor_error_code", "status_at")

# Each connector in our terms, only over a status that is not newer. An Occupied that says no
# charging state (2.0.1's StatusNotification) keeps the one a transaction told; any other
# status says its own (none when not Occupied).
_EVSE_ROWS = _unnest("evse_rows", **EVSE_COLUMNS)
_evse_insert = insert(evse_connectors).from_select(
    [*EVSE_COLUMNS, "charging_state_at"],
    select(
        *(_EVSE_ROWS.c[name] for name in EVSE_COLUMNS),
        case((_EVSE_ROWS.c.charging_state.is_not(None), _EVSE_ROWS.c.status_at), else_=None),
    ),
)
_kept = and_(
    _evse_insert.excluded.status == Status.OCCUPIED.value,
    _evse_insert.excluded.charging_state.is_(None),
    evse_connectors.c.status == Status.OCCUPIED.value,
)
UPSERT_EVSE_CONNECTORS = _evse_insert.on_conflict_do_update(
    index_elements=[
        evse_connectors.c.charge_point_id,
        evse_connectors.c.evse_id,
        evse_connectors.c.connector_id,
    ],
    set_={
        **{name: _evse_insert.excluded[name] for name in _OURS},
        "charging_state": case(
            (_kept, evse_connectors.c.charging_state), else_=_evse_insert.excluded.charging_state
        ),
        "charging_state_at": case(
            (_kept, evse_connectors.c.charging_state_at),
            else_=_evse_insert.excluded.charging_state_at,
        ),
    },
    where=evse_connectors.c.status_at <= _evse_insert.excluded.status_at,
)

# Every notification's history row, once per uq_status; returns the keys of the rows it added.
OURS = ("connector_status", "charging_state", "connector_error_code")
HISTORY_COLUMNS: dict[str, TypeEngine[Any]] = {
    **STATUS_COLUMNS,
    **dict.fromkeys(OURS, String()),
    "received": TIMESTAMP,
}
_HISTORY_ROWS = _unnest("history_rows", **HISTORY_COLUMNS)
INSERT_HISTORY = (
    insert(status_history)
    .from_select(
        ["charge_point_id", "connector_id", *_FIELDS, *OURS, "timestamp", "received_at"],
        select(
            _HISTORY_ROWS.c.charge_point_id,
            _HISTORY_ROWS.c.connector_id,
            *(_HISTORY_ROWS.c[f] for f in (*_FIELDS, *OURS)),
            _HISTORY_ROWS.c.at,
            _HISTORY_ROWS.c.received,
        ),
    )
    .on_conflict_do_nothing(constraint="uq_status")
    .returning(
        status_history.c.charge_point_id,
        status_history.c.connector_id,
        status_history.c.evse_connector_id,
        status_history.c.timestamp,
        status_history.c.status,
        status_history.c.error_code,
    )
)

# A history row's uq_status: CP, connector (the EVSE), connector within it (None for 1.6),
# time, status, error code.
Key = tuple[str, int, int | None, datetime, str, str]


def history_key(row: StatusRow | Sequence[Any]) -> Key:
    """The uq_status of a row to insert, or of one the insert returned."""
    if isinstance(row, dict):
        cp, connector, within = (
            row["charge_point_id"],
            row["connector_id"],
            row["evse_connector_id"],
        )
        return (cp, connector, within, row["at"], row["status"], row["error_code"])
    cp, connector, within, at, status, error = row
    return (cp, connector, within, at, status, error)


def key_order(key: Key) -> tuple[Any, ...]:
    """Keys in a fixed order (two batches lock rows they share alike), None before any
    connector."""
    cp, connector, within, at, status, error = key
    return (cp, connector, -1 if within is None else within, at, status, error)


class EvseRow(TypedDict):
    """A StatusNotification as `evse_connectors` stores it: one connector in our terms."""

    charge_point_id: str
    evse_id: int
    connector_id: int
    status: str
    charging_state: str | None
    error_code: str
    info: str | None
    vendor_error_code: str | None
    status_at: datetime


class StatusRow(TypedDict):
    """A StatusNotification as the connectors and their history store it."""

    charge_point_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    evse_connector_id: int | None
    at: datetime
    received: datetime
    # In our terms, for the history (`OURS`).
    connector_status: str
    charging_state: str | None
    connector_error_code: str


def columns_of(rows: Sequence[Mapping[str, object]], names: list[str]) -> dict[str, list[object]]:
    return {name: [row[name] for row in rows] for name in names}

"""What a CP's StopTransaction and MeterValues count for (pure logic, no I/O)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .checks import future_warning
from .transactions import CHARGE_POINT


class StoredTransaction(Protocol):
    """The columns of a stored transaction the rules below read."""

    @property
    def charge_point_id(self) -> str: ...
    @property
    def stopped_by(self) -> str | None: ...
    @property
    def meter_stop(self) -> int | None: ...
    @property
    def stop_time(self) -> datetime | None: ...


class StopMatch(StrEnum):
    """How a StopTransaction matches its transaction; the unmatched kinds are kept for review
    under these names (unmatched_stops.kind)."""

    STOPS = "stops"
    RE_SENT = "re_sent"
    UNKNOWN_TRANSACTION = "unknown_transaction"
    OTHER_CHARGE_POINT = "other_charge_point"
    ALREADY_STOPPED = "already_stopped"


def match_stop(
    row: StoredTransaction | None, cp_id: str, meter_stop: int, timestamp: datetime
) -> StopMatch:
    """Whether a StopTransaction of `cp_id` stops `row` (None: no such transaction).

    An operator's close is no stop of the CP's: the CP's own figures still replace it.
    """
    if row is None:
        return StopMatch.UNKNOWN_TRANSACTION
    if row.charge_point_id != cp_id:
        return StopMatch.OTHER_CHARGE_POINT
    if row.stopped_by == CHARGE_POINT:
        if (row.meter_stop, row.stop_time) == (meter_stop, timestamp):
            return StopMatch.RE_SENT
        return StopMatch.ALREADY_STOPPED
    return StopMatch.STOPS


def counts_for_transaction(owner: str | None, cp_id: str) -> bool:
    """Whether MeterValues of `cp_id` count for the transaction they name (`owner`: the CP of
    the stored transaction, None when there is none)."""
    return owner == cp_id


def foreign_transaction_warning(
    transaction_id: int | None, owner: str | None, cp_id: str
) -> str | None:
    """A warning when MeterValues name a transaction that is not the CP's (`owner`: the CP of
    the stored transaction, None when there is none); its readings then count for the connector
    only, so an id we never gave this CP cannot attach them to somebody else's transaction."""
    if transaction_id is None or counts_for_transaction(owner, cp_id):
        return None
    return f"transactionId {transaction_id} is not a transaction of this charge point"


def meter_values_warnings(
    transaction_id: int | None,
    owner: str | None,
    cp_id: str,
    timestamps: list[datetime],
    received: datetime,
    skew: float,
) -> list[str]:
    """The warnings a MeterValues earns: a transaction not the CP's, readings from the future."""
    warnings = []
    if foreign := foreign_transaction_warning(transaction_id, owner, cp_id):
        warnings.append(foreign)
    newest = max(timestamps, default=None)
    if newest is not None and (ahead := future_warning("timestamp", newest, received, skew)):
        warnings.append(ahead)
    return warnings

"""Sanity checks of valid but nonsensical input: accepted, and recorded with a warning."""

from __future__ import annotations

from datetime import datetime, timedelta

from csms_shared.ocpp import INT32_MAX, INT32_MIN

INT32 = (INT32_MIN, INT32_MAX)


def fits(value: int, bounds: tuple[int, int]) -> bool:
    """True when `value` can be stored in a column of that range (operators' RPC params)."""
    return bounds[0] <= value <= bounds[1]


def future_warning(field: str, at: datetime, received: datetime, skew: float) -> str | None:
    """A warning when a CP's timestamp lies further ahead of our clock than `skew` seconds."""
    ahead = (at - received).total_seconds()
    if ahead > skew:
        return f"{field} is {int(ahead)} s ahead of the central system's clock"
    return None


def decision_time(at: datetime, received: datetime, skew: float) -> datetime:
    """When to judge an idTag: the CP's time, unless it lies implausibly far ahead."""
    return received if at > received + timedelta(seconds=skew) else at


def timestamp_checks(at: datetime, received: datetime, skew: float) -> tuple[list[str], datetime]:
    """A transaction message's timestamp: its warnings, and the time to judge its idTag at."""
    ahead = future_warning("timestamp", at, received, skew)
    return ([ahead] if ahead else []), decision_time(at, received, skew)


def connector_warnings(connector_id: int, known: set[int]) -> list[str]:
    """Warnings about a transaction's connector: 0 is the whole CP, and unknown ones."""
    if connector_id < 1:
        return [f"connectorId {connector_id} is not a connector (they are numbered from 1)"]
    if known and connector_id not in known:
        return [f"connectorId {connector_id} was never reported by this charge point"]
    return []

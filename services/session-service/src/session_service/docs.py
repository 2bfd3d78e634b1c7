"""Rows as the REST API shows them: camelCase, OCPP's field names, absent values left out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from csms_shared.ocpp._base import format_datetime

from .energy import duration_seconds


def iso(value: datetime | None) -> str | None:
    """A time as the API spells it (UTC, `Z`), or None."""
    return format_datetime(value) if value is not None else None


def number(value: Decimal | int | None) -> int | float | None:
    """A Decimal as a JSON number: an int when whole."""
    if value is None:
        return None
    if isinstance(value, int) or value == value.to_integral_value():
        return int(value)
    return float(value)


def drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without its absent (None) fields."""
    return {k: v for k, v in doc.items() if v is not None}


def live_energy_wh(row: Row[Any]) -> int | None:
    """Energy so far: the stopped figure, else the newest register reading minus meterStart."""
    if row.energy_wh is not None:
        return int(row.energy_wh)
    if row.last_meter_wh is None:
        return None
    return max(0, int(row.last_meter_wh) - int(row.meter_start))


def transaction_doc(row: Row[Any]) -> dict[str, Any]:
    """A transaction."""
    active = row.stop_time is None
    return drop_none(
        {
            "transactionId": row.id,
            "chargePointId": row.charge_point_id,
            "connectorId": row.connector_id,
            "idTag": row.id_tag,
            "idTagStatus": row.id_tag_status,
            "meterStart": row.meter_start,
            "meterStop": row.meter_stop,
            "startTime": iso(row.start_time),
            "stopTime": iso(row.stop_time),
            "stopReason": row.stop_reason,
            "stopIdTag": row.stop_id_tag,
            "stoppedBy": row.stopped_by,
            "closeReason": row.close_reason,
            "reservationId": row.reservation_id,
            "energyWh": live_energy_wh(row),
            "durationSeconds": None if active else duration_seconds(row.start_time, row.stop_time),
            "cost": number(row.cost),
            "currency": row.currency,
            "tariffId": row.tariff_id,
            "pricePerKwh": number(row.price_per_kwh),
            "sessionFee": number(row.session_fee),
            "perMinuteFee": number(row.per_minute_fee),
            "active": active,
            "stale": active and row.stale_since is not None,
            "staleSince": iso(row.stale_since),
            "supersededBy": row.superseded_by,
            "lastSeen": iso(row.last_seen_at),
            "warnings": list(row.warnings or []),
        }
    )


def tariff_doc(row: Row[Any], charge_point_ids: list[str], tags: list[str]) -> dict[str, Any]:
    """A tariff and whom it prices."""
    return {
        "tariffId": row.id,
        "name": row.name,
        "pricePerKwh": number(row.price_per_kwh),
        "sessionFee": number(row.session_fee),
        "perMinuteFee": number(row.per_minute_fee),
        "currency": row.currency,
        "validFrom": iso(row.valid_from),
        "validTo": iso(row.valid_to),
        "isDefault": row.is_default,
        "chargePointIds": charge_point_ids,
        "tags": tags,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def meter_value_doc(row: Row[Any]) -> dict[str, Any]:
    """One sampled value with its time and connector (flat, for paging and charts)."""
    return drop_none(
        {
            "timestamp": iso(row.timestamp),
            "connectorId": row.connector_id,
            "transactionId": row.transaction_id,
            "value": row.value,
            "context": row.context,
            "format": row.format,
            "measurand": row.measurand,
            "phase": row.phase,
            "location": row.location,
            "unit": row.unit,
        }
    )


def audit_doc(row: Row[Any]) -> dict[str, Any]:
    """An audit entry of a transaction."""
    return drop_none(
        {
            "action": row.action,
            "actor": row.actor,
            "reason": row.reason,
            "details": row.details or None,
            "at": iso(row.at),
        }
    )


def id_tag_doc(row: Row[Any]) -> dict[str, Any]:
    """An entry of the authorization list."""
    return drop_none(
        {
            "idTag": row.id_tag,
            "status": row.status,
            "expiryDate": iso(row.expiry_date),
            "parentIdTag": row.parent_id_tag,
            "maxConcurrentTx": row.max_concurrent_tx,
            "note": row.note,
            "createdAt": iso(row.created_at),
            "updatedAt": iso(row.updated_at),
        }
    )


def reservation_doc(row: Row[Any]) -> dict[str, Any]:
    """A reservation made by an accepted ReserveNow."""
    return drop_none(
        {
            "reservationId": row.reservation_id,
            "chargePointId": row.charge_point_id,
            "connectorId": row.connector_id,
            "idTag": row.id_tag,
            "parentIdTag": row.parent_id_tag,
            "expiryDate": iso(row.expiry_date),
            "status": row.status,
            "transactionId": row.transaction_id,
            "commandId": row.command_id,
            "reservedAt": iso(row.reserved_at),
            "endedAt": iso(row.ended_at),
        }
    )


def unmatched_stop_doc(row: Row[Any]) -> dict[str, Any]:
    """A StopTransaction kept for review."""
    return drop_none(
        {
            "id": row.id,
            "chargePointId": row.charge_point_id,
            "transactionId": row.transaction_id,
            "kind": row.kind,
            "idTag": row.id_tag,
            "meterStop": row.meter_stop,
            "timestamp": iso(row.timestamp),
            "reason": row.reason,
            "receivedAt": iso(row.received_at),
            "payload": row.payload,
        }
    )

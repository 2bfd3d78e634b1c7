"""Rows as the resources the REST API shows (contracts/resources.py): OCPP's field names,
absent values left out."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Row

from csms_shared.contracts.resources import (
    AuditEntry,
    IdTag,
    MeterValue,
    Reservation,
    Tariff,
    Transaction,
    UnmatchedStop,
)
from csms_shared.vocabulary import ConnectorRef
from csms_shared.vocabulary.readings import SignedData
from csms_shared.vocabulary.tokens import V16_TOKEN_TYPE

from .energy import duration_seconds

T = TypeVar("T", bound=Transaction)


def number(value: Decimal | int | None) -> int | float | None:
    """A Decimal as a JSON number: an int when whole."""
    if value is None:
        return None
    if isinstance(value, int) or value == value.to_integral_value():
        return int(value)
    return float(value)


def live_energy_wh(row: Row[Any]) -> int | None:
    """Energy so far: the stopped figure, else the newest register reading minus meterStart."""
    if row.energy_wh is not None:
        return int(row.energy_wh)
    if row.last_meter_wh is None:
        return None
    return max(0, int(row.last_meter_wh) - int(row.meter_start))


def costs(row: Row[Any]) -> tuple[Decimal | None, Decimal | None]:
    """A stopped transaction's cost excl. and incl. VAT (incl.: None without a rate); a stop
    from before migration 0013 kept only `cost`, which had no VAT on it."""
    if row.cost is None:
        return None, None
    excl = row.cost if row.cost_excl_vat is None else row.cost_excl_vat
    return excl, (row.cost if row.vat is not None else None)


def transaction_of(row: Row[Any], model: type[T], **extra: Any) -> T:
    """A transaction as `model`: the resource, or an event that carries it (its `at` in
    `extra`)."""
    active = row.stop_time is None
    excl_vat, incl_vat = costs(row)
    return model(
        transaction_id=row.id,
        charge_point_id=row.charge_point_id,
        ocpp_version=row.ocpp_version,
        # 1.6 CPs use our id; the column holds 2.0.1's CP-chosen one only.
        station_transaction_id=row.station_transaction_id or str(row.id),
        connector_id=row.connector_id,
        # 1.6 transactions stored before 2026-11-27 said no connector: EVSE n is connector 1.
        evse_connector_id=row.evse_connector_id
        if row.evse_connector_id is not None or row.ocpp_version != "1.6"
        else ConnectorRef.from_v16(row.connector_id).connector_id or None,
        id_tag=row.id_tag,
        # 1.6 transactions kept before migration 0009 said no type: their idTag was a card's.
        id_token_type=row.id_token_type
        or (V16_TOKEN_TYPE.value if row.id_tag and row.ocpp_version == "1.6" else None),
        id_tag_status=row.id_tag_status,
        id_token_source=row.id_token_source,
        roaming_party=row.roaming_party,
        remote_start_id=row.remote_start_id,
        meter_start=row.meter_start,
        meter_stop=row.meter_stop,
        start_time=row.start_time,
        stop_time=row.stop_time,
        stop_reason=row.stop_reason,
        stop_id_tag=row.stop_id_tag,
        stopped_by=row.stopped_by,
        close_reason=row.close_reason,
        reservation_id=row.reservation_id,
        charging_priority=row.charging_priority,
        energy_wh=live_energy_wh(row),
        duration_seconds=None if active else duration_seconds(row.start_time, row.stop_time),
        parking_seconds=row.parking_seconds,
        cost=number(row.cost),
        cost_excl_vat=number(excl_vat),
        cost_incl_vat=number(incl_vat),
        currency=row.currency,
        tariff_id=row.tariff_id,
        price_per_kwh=number(row.price_per_kwh),
        session_fee=number(row.session_fee),
        per_minute_fee=number(row.per_minute_fee),
        parking_per_minute_fee=number(row.parking_per_minute_fee),
        vat=number(row.vat),
        active=active,
        stale=active and row.stale_since is not None,
        stale_since=row.stale_since,
        superseded_by=row.superseded_by,
        last_seen=row.last_seen_at,
        warnings=list(row.warnings or []),
        **extra,
    )


def tariff_of(row: Row[Any], charge_point_ids: list[str], tags: list[str]) -> Tariff:
    """A tariff and whom it prices."""
    return Tariff(
        tariff_id=row.id,
        name=row.name,
        price_per_kwh=number(row.price_per_kwh),
        session_fee=number(row.session_fee),
        per_minute_fee=number(row.per_minute_fee),
        parking_per_minute_fee=number(row.parking_per_minute_fee),
        currency=row.currency,
        vat=number(row.vat),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        is_default=row.is_default,
        charge_point_ids=charge_point_ids,
        tags=tags,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def meter_value_of(row: Row[Any]) -> MeterValue:
    """One sampled value with its time and connector (flat, for paging and charts)."""
    return MeterValue(
        timestamp=row.timestamp,
        connector_id=row.connector_id,
        transaction_id=row.transaction_id,
        value=row.value,
        context=row.context,
        format=row.format,
        measurand=row.measurand,
        phase=row.phase,
        location=row.location,
        unit=row.unit,
        signed=None if row.signed is None else SignedData.model_validate(row.signed),
    )


def audit_entry_of(row: Row[Any]) -> AuditEntry:
    """An audit entry of a transaction."""
    return AuditEntry(
        action=row.action,
        actor=row.actor,
        reason=row.reason,
        details=row.details or None,
        at=row.at,
    )


def id_tag_of(row: Row[Any]) -> IdTag:
    """An entry of the authorization list."""
    return IdTag(
        id_tag=row.id_tag,
        status=row.status,
        type=row.type,
        expiry_date=row.expiry_date,
        parent_id_tag=row.parent_id_tag,
        max_concurrent_tx=row.max_concurrent_tx,
        charging_priority=row.charging_priority,
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def reservation_of(row: Row[Any]) -> Reservation:
    """A reservation made by an accepted ReserveNow."""
    return Reservation(
        reservation_id=row.reservation_id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        parent_id_tag=row.parent_id_tag,
        expiry_date=row.expiry_date,
        status=row.status,
        transaction_id=row.transaction_id,
        command_id=row.command_id,
        reserved_at=row.reserved_at,
        ended_at=row.ended_at,
    )


def unmatched_stop_of(row: Row[Any]) -> UnmatchedStop:
    """A StopTransaction kept for review."""
    return UnmatchedStop(
        id=row.id,
        charge_point_id=row.charge_point_id,
        transaction_id=row.transaction_id,
        kind=row.kind,
        id_tag=row.id_tag,
        meter_stop=row.meter_stop,
        timestamp=row.timestamp,
        reason=row.reason,
        received_at=row.received_at,
        payload=row.payload,
    )

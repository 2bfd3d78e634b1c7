"""A transaction started with a roaming token as OCPI tells its eMSP: the Session while it runs
and when it ended, and the CDR. Pure: no database, no clock.

Every figure comes from the transaction as the session-service published it: the energy (Wh,
sent as kWh), the duration, the parking time it counted at the stop, and the cost its tariff
engine computed then, excl. VAT and (when its tariff stated a rate) incl. VAT, the latter the one
the station was told. Nothing is priced a second time here: the CDR's tariff states the prices
the transaction copied at its start (FLAT, ENERGY per kWh by the Wh, TIME and PARKING_TIME per
hour by the second: tariff_documents.py) and their VAT rate, which are the engine's own, so an
eMSP that recomputes gets the same total before rounding.

The parking time is known only at the stop: the periods sent while the transaction runs carry
ENERGY and TIME alone, and the last period of the COMPLETED Session and the CDR carries all of
it (PARKING_TIME), its TIME reduced by as much (never below 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from csms_shared.contracts.resources_sessions import Transaction
from csms_shared.contracts.rpc_roaming_locations import (
    LocationSettings,
)

from . import tariff_documents
from .location_documents import Publisher
from .ocpi.cdrs import CDR, AuthMethod, CdrDimensionType, ChargingPeriod
from .ocpi.locations import Connector
from .ocpi.sessions import Session, SessionStatus
from .ocpi.tariffs import Tariff
from .ocpi.tokens import TokenType

_KWH = Decimal(1000)
_HOUR = Decimal(3600)
_FOUR = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class TokenRef:
    """The roaming token a transaction started with, and the platform of its eMSP."""

    country_code: str
    party_id: str
    uid: str
    type: TokenType
    contract_id: str
    platform_id: str


@dataclass(frozen=True, slots=True)
class Authorized:
    """How the session's token was authorized: WHITELIST, COMMAND (an eMSP's START_SESSION), or
    AUTH_REQUEST (its eMSP answered a real-time authorization), with the eMSP's
    `authorization_reference`."""

    method: AuthMethod = AuthMethod.WHITELIST
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where the transaction runs, as the location publishes it."""

    location_id: str
    location: LocationSettings
    evse_uid: str
    evse_emi3_id: str | None
    connector: Connector


def session_id(transaction: Transaction) -> str:
    """The OCPI Session's and CDR's id: our transaction id, stable across pushes."""
    return str(transaction.transaction_id)


def kwh(transaction: Transaction) -> Decimal:
    """The energy so far (at the stop: all of it) in kWh, from the Wh the transaction has."""
    return Decimal(transaction.energy_wh or 0) / _KWH


def _hours(seconds: int | Decimal) -> Decimal:
    return (Decimal(seconds) / _HOUR).quantize(_FOUR, ROUND_HALF_UP)


def hours(transaction: Transaction) -> Decimal:
    """The duration in hours (4 decimals)."""
    return _hours(transaction.duration_seconds or 0)


def parking_hours(transaction: Transaction) -> Decimal | None:
    """The parking time the session-service counted at the stop, in hours (None: not counted,
    a transaction running or stopped by a session-service from before parking time)."""
    if transaction.parking_seconds is None:
        return None
    return _hours(transaction.parking_seconds)


def total_cost(transaction: Transaction) -> dict[str, Decimal | int | float] | None:
    """The session-service's cost of an ended transaction as an OCPI Price: `excl_vat`, and
    `incl_vat` when its tariff stated a VAT rate; None when it has no cost."""
    if transaction.cost is None:
        return None
    # An event of a session-service from before VAT has `cost` alone, which had no VAT on it.
    excl = transaction.cost if transaction.cost_excl_vat is None else transaction.cost_excl_vat
    price: dict[str, Decimal | int | float] = {"excl_vat": excl}
    if transaction.cost_incl_vat is not None:
        price["incl_vat"] = transaction.cost_incl_vat
    return price


def _token(token: TokenRef) -> dict[str, str]:
    return {
        "country_code": token.country_code,
        "party_id": token.party_id,
        "uid": token.uid,
        "type": token.type.value,
        "contract_id": token.contract_id,
    }


def tariff_id(transaction: Transaction) -> str:
    """The id of the tariff the transaction was priced by (the environment's prices: DEFAULT)."""
    return tariff_documents.ocpi_tariff_id(transaction.tariff_id)


def period(
    since: datetime, until: datetime, kwh_delivered: Decimal, parked_seconds: int = 0
) -> dict[str, Any]:
    """A charging period from `since` to `until` (the next one's start, or the end): the kWh
    delivered in it and its hours (none below 0: clocks of station and service differ), of
    which `parked_seconds` are PARKING_TIME rather than TIME."""
    seconds = max(Decimal(0), Decimal(str((until - since).total_seconds())))
    charging = max(Decimal(0), seconds - parked_seconds)
    dimensions: list[dict[str, Any]] = [
        {"type": CdrDimensionType.ENERGY, "volume": max(Decimal(0), kwh_delivered)},
        {"type": CdrDimensionType.TIME, "volume": (charging / _HOUR).quantize(_FOUR)},
    ]
    if parked_seconds > 0:
        dimensions.append({"type": CdrDimensionType.PARKING_TIME, "volume": _hours(parked_seconds)})
    return {"start_date_time": since, "dimensions": dimensions}


def last_boundary(sent: Mapping[str, Any], started: datetime) -> tuple[datetime, Decimal]:
    """Where the next period starts and the kWh by then: at the last update of the Session as
    last sent (`sent`, wire form) once it has periods, else at the start with none."""
    if not sent.get("charging_periods"):
        return started, Decimal(0)
    return datetime.fromisoformat(str(sent["last_updated"])), Decimal(str(sent["kwh"]))


def periods(
    transaction: Transaction, sent: Mapping[str, Any] | None = None
) -> list[ChargingPeriod]:
    """An ended transaction's charging periods, at its tariff: those sent while it ran (in
    `sent`, the Session as last sent), then one from the last of them to the end with the
    rest of the energy and time (one from the start when none was sent), and all of its
    parking time (known only at the stop)."""
    assert transaction.stop_time is not None, "the periods of an ended transaction"
    tariff = tariff_id(transaction)
    before = list((sent or {}).get("charging_periods") or [])
    since, kwh_before = last_boundary(sent or {}, transaction.start_time)
    parked = transaction.parking_seconds or 0
    last = period(since, transaction.stop_time, kwh(transaction) - kwh_before, parked)
    return [
        ChargingPeriod.model_validate(dict(each) | {"tariff_id": tariff})
        for each in [*before, last]
    ]


def session(
    transaction: Transaction,
    token: TokenRef,
    place: Place,
    publisher: Publisher,
    at: datetime,
    auth: Authorized = Authorized(),
    sent: Mapping[str, Any] | None = None,
) -> Session:
    """The Session: ACTIVE while the transaction runs, COMPLETED with its totals and charging
    periods once ended (`sent`: the Session as last sent, with the periods sent while it
    ran)."""
    ended = transaction.stop_time is not None
    document: dict[str, object] = {
        "country_code": publisher.country_code,
        "party_id": publisher.party_id,
        "id": session_id(transaction),
        "start_date_time": transaction.start_time,
        "end_date_time": transaction.stop_time,
        "kwh": kwh(transaction),
        "cdr_token": _token(token),
        "auth_method": auth.method,
        "authorization_reference": auth.reference,
        "location_id": place.location_id,
        "evse_uid": place.evse_uid,
        "connector_id": place.connector.id,
        "currency": transaction.currency,
        "status": SessionStatus.COMPLETED if ended else SessionStatus.ACTIVE,
        "last_updated": at,
    }
    if ended:
        document["charging_periods"] = periods(transaction, sent)
        if (cost := total_cost(transaction)) is not None:
            document["total_cost"] = cost
    return Session.model_validate(document)


def tariff(transaction: Transaction, publisher: Publisher, at: datetime) -> Tariff:
    """The prices the transaction copied at its start, as an OCPI Tariff."""
    return tariff_documents.tariff(
        publisher,
        tariff_id=transaction.tariff_id,
        currency=transaction.currency,
        session_fee=transaction.session_fee,
        price_per_kwh=transaction.price_per_kwh,
        per_minute_fee=transaction.per_minute_fee,
        parking_per_minute_fee=transaction.parking_per_minute_fee,
        last_updated=at,
        vat=transaction.vat,
    )


def cdr(
    transaction: Transaction,
    token: TokenRef,
    place: Place,
    publisher: Publisher,
    at: datetime,
    auth: Authorized = Authorized(),
    sent: Mapping[str, Any] | None = None,
) -> CDR:
    """The CDR of an ended transaction (ValueError for one still running); its charging
    periods those of its Session (`sent`: as last sent while it ran)."""
    if transaction.stop_time is None:
        raise ValueError("a CDR is made of an ended transaction")
    where = place.location
    document = {
        "country_code": publisher.country_code,
        "party_id": publisher.party_id,
        "id": session_id(transaction),
        "start_date_time": transaction.start_time,
        "end_date_time": transaction.stop_time,
        "session_id": session_id(transaction),
        "cdr_token": _token(token),
        "auth_method": auth.method,
        "authorization_reference": auth.reference,
        "cdr_location": {
            "id": place.location_id,
            "name": where.name,
            "address": where.address[:45],
            "city": where.city,
            "postal_code": where.postal_code,
            "state": where.state[:20] if where.state else None,
            "country": where.country,
            "coordinates": {
                "latitude": f"{where.coordinates.latitude:.6f}",
                "longitude": f"{where.coordinates.longitude:.6f}",
            },
            "evse_uid": place.evse_uid,
            "evse_id": place.evse_emi3_id or place.evse_uid,
            "connector_id": place.connector.id,
            "connector_standard": place.connector.standard,
            "connector_format": place.connector.format,
            "connector_power_type": place.connector.power_type,
        },
        "currency": transaction.currency,
        "tariffs": [tariff(transaction, publisher, at)],
        "charging_periods": periods(transaction, sent),
        "total_cost": total_cost(transaction) or {"excl_vat": Decimal(0)},
        "total_energy": kwh(transaction),
        "total_time": hours(transaction),
        "total_parking_time": parking_hours(transaction),
        "last_updated": at,
    }
    if transaction.cost is None:  # the session-service prices every stop; kept visible if not
        document["remark"] = "no cost was computed for this session"
    return CDR.model_validate(document)

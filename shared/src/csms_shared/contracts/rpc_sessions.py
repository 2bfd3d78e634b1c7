"""The params of session-service's and message-log's RPC methods (the catalogue: `rpc.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ..bus.message_log import MessageLogLevel
from ..ocpp._fields import INT32_MAX, INT32_MIN
from ..ocpp.v16.datatypes import OcppDateTime
from ..ocpp.version import OcppVersion
from .rpc_base import (
    BIGINT,
    ChargePointId,
    IdToken,
    LongPaged,
    Paged,
    RpcParams,
    StoredStatus,
    Text16,
    Text24,
    Text50,
    Text100,
    Text500,
    TimeRange,
)
from .rpc_registry import Tag

# -- session-service -------------------------------------------------------------------------


class EnergyReport(LongPaged, TimeRange):
    """kWh and cost per CP and day in [from, to), of every CP or of one."""

    charge_point_id: ChargePointId | None = None


class ListMeterValues(LongPaged, TimeRange):
    """Sampled values of a transaction, or of a CP (and connector)."""

    transaction_id: int | None = Field(default=None, le=BIGINT, ge=-BIGINT)
    charge_point_id: ChargePointId | None = None
    connector_id: int | None = Field(default=None, le=BIGINT, ge=-BIGINT)

    @model_validator(mode="after")
    def _of_something(self) -> ListMeterValues:
        if self.transaction_id is None and self.charge_point_id is None:
            raise ValueError("transactionId or chargePointId is required")
        return self


class StopIdTag(RpcParams):
    """A 1.6 StopTransaction's idTag to judge for its answer, apart from the stop: the gateway
    publishes the stop itself in order behind its station's bulk data (docs/ARCHITECTURE.md,
    "Decisions first"). `timestamp` is the stop's, `receivedAt` when the gateway received it."""

    charge_point_id: ChargePointId
    # As the station may send it: a CiString20, empty included.
    id_tag: Annotated[str, StringConstraints(strict=True, max_length=20)]
    timestamp: OcppDateTime
    received_at: OcppDateTime


class EndedIdToken(RpcParams):
    """A 2.0.1 TransactionEvent Ended's idToken to judge for its answer, apart from the event
    (as `StopIdTag`): `transactionId` is the station's. `evseId` and `reservationId` are the
    Ended's (absent: it names none): when its transaction is not stored yet, the token is its
    first and is judged as a start on that EVSE. Both added after the method (optional)."""

    charge_point_id: ChargePointId
    transaction_id: Annotated[str, StringConstraints(strict=True, max_length=36)]
    # As the station may send them: empty for NoAuthorization, among others.
    id_token: Annotated[str, StringConstraints(strict=True, max_length=36)]
    type: Annotated[str, StringConstraints(strict=True, max_length=20)]
    timestamp: OcppDateTime
    received_at: OcppDateTime
    evse_id: int | None = Field(default=None, ge=INT32_MIN, le=INT32_MAX, strict=True)
    # Ours are 32-bit serials: a station's larger one names none of them (sent as absent).
    reservation_id: int | None = Field(default=None, ge=INT32_MIN, le=INT32_MAX, strict=True)


class ListReservations(Paged):
    """Reservations, filtered by CP, status and whether still active."""

    charge_point_id: ChargePointId | None = None
    status: Text16 | None = None
    active: bool | None = None


class ListTransactions(Paged, TimeRange):
    """Transactions by start time, filtered as the REST query asks."""

    charge_point_id: ChargePointId | None = None
    connector_id: int | None = Field(default=None, le=BIGINT, ge=-BIGINT)
    id_tag: IdToken | None = None
    active: bool | None = None
    stale: bool | None = None


class OfTransaction(RpcParams):
    """One transaction, by id."""

    transaction_id: int = Field(le=BIGINT, ge=-BIGINT)


class GetTransaction(OfTransaction):
    """A transaction with a page of its meter values."""

    meter_values_limit: int = Field(default=1000, ge=1, le=10_000)
    meter_values_offset: int = Field(default=0, ge=0, le=BIGINT)


class CloseStaleTransaction(OfTransaction):
    """An operator closes a transaction its CP never stopped (`force`: even if not stale)."""

    reason: Text500
    operator: Text100
    force: bool = False
    meter_stop: int | None = Field(default=None, ge=-BIGINT, le=BIGINT)


class ListUnmatchedStops(Paged):
    """StopTransactions kept for review."""

    charge_point_id: ChargePointId | None = None
    kind: Text24 | None = None


class OfIdTag(RpcParams):
    """One idTag of the authorization list (any case)."""

    id_tag: IdToken


class _IdTagFields(OfIdTag):
    expiry_date: OcppDateTime | None = None
    parent_id_tag: IdToken | None = None
    max_concurrent_tx: int | None = Field(default=None, ge=1, le=1000, strict=True)
    note: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _not_own_parent(self) -> _IdTagFields:
        if self.parent_id_tag is not None and self.parent_id_tag.lower() == self.id_tag.lower():
            raise ValueError("parentIdTag: an idTag cannot be its own parent")
        return self


# OCPP 2.0.1 IdTokenInfoType.chargingPriority: -9 (lowest) .. 9 (highest), 0 the default.
ChargingPriority = Annotated[int, Field(ge=-9, le=9, strict=True)]

# The 2.0.1 idToken types a list entry may be presented as (NoAuthorization needs no entry).
IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress"]


class CreateIdTag(_IdTagFields):
    """A new entry: Accepted and an ISO14443 UID (as 1.6 idTags are) unless told otherwise."""

    status: StoredStatus = "Accepted"
    type: IdTokenType = "ISO14443"
    charging_priority: ChargingPriority = 0


class UpdateIdTag(_IdTagFields):
    """Changed fields of an entry; a field sent as null is cleared (but status)."""

    status: StoredStatus | None = None
    type: IdTokenType | None = None
    charging_priority: ChargingPriority | None = None

    @model_validator(mode="after")
    def _status_kept(self) -> UpdateIdTag:
        for name in ("status", "type", "charging_priority"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{to_camel(name)}: cannot be cleared")
        return self


class ListIdTags(Paged):
    """The authorization list by idTag, filtered by status, parent or a search text."""

    status: Text16 | None = None
    parent_id_tag: IdToken | None = None
    search: Text50 | None = None


class OfChargePointId(RpcParams):
    """One charge point, by `chargePointId`."""

    charge_point_id: ChargePointId


class BuildLocalList(RpcParams):
    """The next SendLocalList of a CP: all id tags or those under `parentIdTags`, `Full` or
    `Differential` (default: Differential when the content of the CP's list is known); with
    `roamingTokens`, all id tags and then the tokens eMSPs pushed that a station may accept."""

    charge_point_id: ChargePointId
    ocpp_version: OcppVersion = Field(description="The station's: 1.6 holds shorter tokens")
    update_type: Literal["Full", "Differential"] | None = None
    parent_id_tags: list[Annotated[str, StringConstraints(strict=True)]] | None = None
    roaming_tokens: bool = Field(
        default=False,
        description="Add the roaming tokens (OCPI) that are valid and whitelisted (not NEVER)"
        " and that no id tag names: a list of every id tag only",
    )

    @model_validator(mode="after")
    def _roaming_tokens_with_every_tag(self) -> BuildLocalList:
        # A group's list with eMSPs' tokens in it would be neither the group nor the roaming
        # tokens: refused rather than given a meaning of its own.
        if self.roaming_tokens and self.parent_id_tags is not None:
            raise ValueError(
                "roamingTokens: only a list of every id tag holds the roaming tokens;"
                " leave out parentIdTags"
            )
        return self


# Prices as the transactions keep them: Numeric(12, 4) and Numeric(12, 2).
PerUnit = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
Fee = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{3}$")]
# A VAT rate in percent, as tariffs keep it: Numeric(5, 2).
Vat = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class OfTariff(RpcParams):
    """One tariff, by id."""

    tariff_id: int = Field(ge=1, le=INT32_MAX)


class _TariffFields(RpcParams):
    valid_from: OcppDateTime | None = None
    valid_to: OcppDateTime | None = None
    # Who it prices: CPs by id and CPs by tag (a list replaces the one stored; [] clears it).
    charge_point_ids: list[ChargePointId] | None = Field(default=None, max_length=10_000)
    tags: list[Tag] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _window(self) -> _TariffFields:
        start, end = self.valid_from, self.valid_to
        if start is not None and end is not None and start >= end:
            raise ValueError("validTo: must be after validFrom")
        return self


class CreateTariff(_TariffFields):
    """A new tariff: price per kWh, per-session, per-minute and per-minute-of-parking fees
    (excl. VAT), currency, VAT rate (None: not stated), validity."""

    name: Text100
    price_per_kwh: PerUnit
    session_fee: Fee = Decimal(0)
    per_minute_fee: PerUnit = Decimal(0)
    parking_per_minute_fee: PerUnit = Decimal(0)
    currency: Currency
    vat: Vat | None = None
    is_default: bool = False


# A tariff's fields a change may set but never clear.
_KEPT = (
    "name",
    "price_per_kwh",
    "session_fee",
    "per_minute_fee",
    "parking_per_minute_fee",
    "currency",
)


class UpdateTariff(OfTariff, _TariffFields):
    """Changed fields of a tariff; validFrom/validTo/vat sent as null are cleared. Transactions
    already started keep the prices (and VAT rate) they started with."""

    name: Text100 | None = None
    price_per_kwh: PerUnit | None = None
    session_fee: Fee | None = None
    per_minute_fee: PerUnit | None = None
    parking_per_minute_fee: PerUnit | None = None
    currency: Currency | None = None
    vat: Vat | None = None
    is_default: bool | None = None

    @model_validator(mode="after")
    def _kept(self) -> UpdateTariff:
        for name in _KEPT:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{to_camel(name)}: cannot be cleared")
        if "is_default" in self.model_fields_set and self.is_default is None:
            raise ValueError("isDefault: cannot be cleared")
        return self


class ListTariffs(Paged):
    """Tariffs by id; those assigned to a CP (by id) or a tag, or in force at a time."""

    charge_point_id: ChargePointId | None = None
    tag: Tag | None = None
    in_force_at: OcppDateTime | None = None


class TariffOfChargePoint(OfChargePointId):
    """The tariff that prices a transaction the CP starts at `at` (default: now)."""

    at: OcppDateTime | None = None


# -- message-log -----------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


When = Annotated[datetime, AfterValidator(_utc)]


class _Records(RpcParams):
    """Records between two times (RFC 3339; a time without offset is UTC), by action,
    direction or message id."""

    from_: When | None = Field(default=None, alias="from")
    to: When | None = None
    action: str | None = None
    direction: str | None = None
    message_id: str | None = None


class ListMessages(_Records):
    """One CP's records, newest first, a page after `cursor` (`limit` capped by the service)."""

    charge_point_id: ChargePointId
    limit: int = Field(default=100, ge=1, strict=True)
    cursor: str | None = None


class TailMessages(RpcParams):
    """One CP's records from a position on, oldest first (none: no records, the newest
    position), for a page that follows the log."""

    charge_point_id: ChargePointId
    after: Text100 | None = None
    limit: int = Field(default=200, ge=1, strict=True)


class ListLogs(_Records):
    """The system log, of every CP or of one, at one level or all."""

    charge_point_id: ChargePointId | None = None
    level: str | None = None
    limit: int = Field(default=100, ge=1, strict=True)
    offset: int = Field(default=0, ge=0, le=BIGINT, strict=True)


class SetLevel(RpcParams):
    """A CP's message log level; none (or null): back to the gateways' default."""

    charge_point_id: ChargePointId
    level: MessageLogLevel | None = None

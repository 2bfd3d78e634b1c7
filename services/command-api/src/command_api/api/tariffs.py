"""Tariffs as data (session-service): what a kWh, a session, a minute and a minute of parking
cost (excl. VAT, at the VAT rate stated), and where."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Path, Query, Response, status
from pydantic import Field, model_validator

from csms_shared.contracts.rpc import (
    CreateTariff,
    ListTariffs,
    OfTariff,
    SessionsRpc,
    TariffOfChargePoint,
    UpdateTariff,
)
from csms_shared.contracts.rpc_registry import TAG_PATTERN, Tag
from csms_shared.contracts.rpc_sessions import Currency, Fee, PerUnit, Vat
from csms_shared.ocpp import INT32_MAX
from csms_shared.ocpp._base import DateTime
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

from .. import problems
from ..models import AppliedTariff, Page, Tariff
from .deps import Admin, State, Viewer, api_router, call
from .sessions import ApiModel, CpFilter, Limit, Offset

router = api_router(404, 503, tags=["tariffs"])

TariffId = Annotated[int, Path(ge=1, le=INT32_MAX)]
CpPath = Annotated[str, Path(pattern=CHARGE_POINT_ID_PATTERN)]
TagFilter = Annotated[str | None, Query(pattern=TAG_PATTERN)]
ChargePointIds = Annotated[
    list[Annotated[str, Field(pattern=CHARGE_POINT_ID_PATTERN)]],
    Field(max_length=10_000, description="CPs it prices, by id (replaces the list stored)"),
]
Tags = Annotated[
    list[Tag],
    Field(max_length=100, description="CPs it prices, by tag (replaces the list stored)"),
]


class _Validity(ApiModel):
    valid_from: DateTime | None = Field(default=None, description="RFC 3339; inclusive")
    valid_to: DateTime | None = Field(default=None, description="RFC 3339; exclusive")

    @model_validator(mode="after")
    def _window(self) -> _Validity:
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("validTo must be after validFrom")
        return self


VatRate = Annotated[
    Vat | None,
    Field(
        description="VAT rate in percent, 0 to 100, 2 decimals; the prices exclude it. Null or"
        " absent: the prices carry no VAT information (a cost is their total)"
    ),
]


ParkingFee = Annotated[
    PerUnit,
    Field(
        description="Per minute of parking (by the second), on top of perMinuteFee, excl. VAT:"
        " the time a transaction spends in EVConnected, SuspendedEV or Idle (never"
        " SuspendedEVSE, a pause the site causes), 4 decimals"
    ),
]


class NewTariff(_Validity):
    """A tariff: prices (excl. VAT), currency, VAT rate, validity, and whom it prices (or every
    CP, as the default)."""

    name: str = Field(min_length=1, max_length=100)
    price_per_kwh: PerUnit
    session_fee: Fee = Decimal(0)
    per_minute_fee: PerUnit = Decimal(0)
    parking_per_minute_fee: ParkingFee = Decimal(0)
    currency: Currency
    vat: VatRate = None
    is_default: bool = False
    charge_point_ids: ChargePointIds = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)


_KEPT = (
    "name",
    "price_per_kwh",
    "session_fee",
    "per_minute_fee",
    "parking_per_minute_fee",
    "currency",
)


class TariffChange(_Validity):
    """What to change of a tariff; validFrom/validTo/vat sent as null are cleared."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    price_per_kwh: PerUnit | None = None
    session_fee: Fee | None = None
    per_minute_fee: PerUnit | None = None
    parking_per_minute_fee: ParkingFee | None = None
    currency: Currency | None = None
    vat: VatRate = None
    is_default: bool | None = None
    charge_point_ids: ChargePointIds | None = None
    tags: Tags | None = None

    @model_validator(mode="after")
    def _kept(self) -> TariffChange:
        for name in _KEPT:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{type(self).model_fields[name].alias or name} cannot be cleared")
        return self


@router.get("/tariffs", response_model=Page[Tariff])
async def list_tariffs(
    state: State,
    principal: Viewer,
    charge_point_id: CpFilter = None,
    tag: TagFilter = None,
    in_force_at: Annotated[
        datetime | None, Query(alias="inForceAt", description="RFC 3339: those valid then")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[Tariff]:
    """Tariffs, newest first; those assigned to a CP by id, to a tag, or in force at a time."""
    listing = ListTariffs(
        charge_point_id=charge_point_id,
        tag=tag,
        in_force_at=in_force_at,
        limit=limit,
        offset=offset,
    )
    return await call(state, SessionsRpc.list_tariffs, listing)


@router.post(
    "/tariffs",
    status_code=status.HTTP_201_CREATED,
    response_model=Tariff,
    responses=problems.responses(409),
)
async def create_tariff(state: State, principal: Admin, body: NewTariff) -> Tariff:
    """Add a tariff (409 if its name is taken)."""
    creating = CreateTariff.model_validate(body.model_dump(exclude_none=True))
    return await call(state, SessionsRpc.create_tariff, creating)


@router.get("/tariffs/{tariff_id}", response_model=Tariff)
async def get_tariff(state: State, principal: Viewer, tariff_id: TariffId) -> Tariff:
    """One tariff and whom it prices."""
    return await call(state, SessionsRpc.get_tariff, OfTariff(tariff_id=tariff_id))


@router.patch("/tariffs/{tariff_id}", response_model=Tariff, responses=problems.responses(409))
async def update_tariff(
    state: State, principal: Admin, tariff_id: TariffId, body: TariffChange
) -> Tariff:
    """Change a tariff; transactions already started keep the prices they started with."""
    # Only the fields sent: a validity or VAT rate sent as null clears it.
    changing = UpdateTariff.model_validate(
        {"tariff_id": tariff_id, **body.model_dump(exclude_unset=True)}
    )
    return await call(state, SessionsRpc.update_tariff, changing)


@router.delete(
    "/tariffs/{tariff_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems.responses(409),
)
async def delete_tariff(state: State, principal: Admin, tariff_id: TariffId) -> Response:
    """Remove a tariff no transaction started under (409 otherwise: end it with validTo)."""
    await call(state, SessionsRpc.delete_tariff, OfTariff(tariff_id=tariff_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/charge-points/{charge_point_id}/tariff", response_model=AppliedTariff)
async def get_charge_point_tariff(
    state: State,
    principal: Viewer,
    charge_point_id: CpPath,
    at: Annotated[datetime | None, Query(description="RFC 3339; default now")] = None,
) -> AppliedTariff:
    """What prices a transaction this CP starts now (or at `at`), and why."""
    asked = TariffOfChargePoint(charge_point_id=charge_point_id, at=at)
    return await call(state, SessionsRpc.tariff_of_charge_point, asked)

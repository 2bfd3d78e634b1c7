"""Transactions, meter values, id tags, reservations and the energy report, from session-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms_shared.contracts.rpc import (
    CloseStaleTransaction,
    CreateIdTag,
    GetTransaction,
    ListIdTags,
    ListMeterValues,
    ListReservations,
    ListTransactions,
    ListUnmatchedStops,
    OfIdTag,
    SessionsRpc,
    UpdateIdTag,
)
from csms_shared.contracts.rpc import EnergyReport as EnergyReportParams
from csms_shared.contracts.rpc_sessions import IdTokenType
from csms_shared.ocpp import INT32_MAX, INT32_MIN
from csms_shared.ocpp._base import DateTime
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.vocabulary.tokens import MAX_TOKEN_LENGTH

from .. import problems
from ..auth import Role
from ..models import (
    EnergyReport,
    IdTag,
    MeterValue,
    Page,
    Reservation,
    Transaction,
    TransactionDetail,
    UnmatchedStop,
)
from ..problems import ProblemError
from .deps import MAX_OFFSET, Admin, Operator, State, Viewer, api_router, call

router = api_router(404, 503)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
CpFilter = Annotated[str | None, Query(alias="chargePointId", pattern=CHARGE_POINT_ID_PATTERN)]
IdTagPath = Annotated[str, Path(min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=r"^[^\x00]+$")]
From = Annotated[datetime | None, Query(alias="from", description="RFC 3339, inclusive")]
To = Annotated[datetime | None, Query(alias="to", description="RFC 3339, exclusive")]
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
ChargingPriority = Annotated[
    int,
    Field(
        ge=-9,
        le=9,
        strict=True,
        description="OCPP 2.0.1's chargingPriority, -9..9 (higher first): a site's allocator"
        " adds it to the station's priority; told to 2.0.1 stations when not 0",
    ),
]


class ApiModel(BaseModel):
    """camelCase on the wire; unknown fields are an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class IdTagFields(ApiModel):
    """An entry of the authorization list."""

    expiry_date: DateTime | None = None
    parent_id_tag: str | None = Field(default=None, min_length=1, max_length=MAX_TOKEN_LENGTH)
    max_concurrent_tx: int | None = Field(default=None, ge=1, le=1000)
    note: str | None = Field(default=None, max_length=200)


class NewIdTag(IdTagFields):
    """An idTag to add; Accepted unless told otherwise."""

    id_tag: str = Field(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        description="Up to 36 characters (2.0.1 idTokens, eMAIDs); 1.6 stations hold those of"
        " 20 or fewer",
    )
    status: IdTagStatus = "Accepted"
    type: IdTokenType = Field(
        default="ISO14443",
        description="How a 2.0.1 station presents it (1.6 idTags are ISO14443 card UIDs)",
    )
    charging_priority: ChargingPriority = 0


class IdTagChange(IdTagFields):
    """What to change of an idTag."""

    status: IdTagStatus | None = None
    type: IdTokenType | None = None
    charging_priority: ChargingPriority | None = None


class CloseTransaction(ApiModel):
    """Why an operator closes a transaction its CP never stopped."""

    reason: str = Field(min_length=1, max_length=500)
    force: bool = False
    meter_stop: int | None = Field(
        default=None,
        ge=0,
        lt=2**63,
        description="The final register reading (Wh) the operator read off the meter; admin only",
    )


# -- transactions ---------------------------------------------------------------------------


@router.get("/transactions", tags=["transactions"], response_model=Page[Transaction])
async def list_transactions(
    state: State,
    principal: Viewer,
    charge_point_id: CpFilter = None,
    connector_id: Annotated[int | None, Query(alias="connectorId", ge=0, lt=2**63)] = None,
    id_tag: Annotated[str | None, Query(alias="idTag", max_length=MAX_TOKEN_LENGTH)] = None,
    active: bool | None = None,
    stale: bool | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[Transaction]:
    """Transactions, newest first; filter by CP, connector, idTag, active, stale and start."""
    listing = ListTransactions(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        id_tag=id_tag,
        active=active,
        stale=stale,
        from_=start,
        to=end,
        limit=limit,
        offset=offset,
    )
    return await call(state, SessionsRpc.list_transactions, listing)


@router.get(
    "/transactions/{transaction_id}", tags=["transactions"], response_model=TransactionDetail
)
async def get_transaction(
    state: State,
    principal: Viewer,
    transaction_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)],
    meter_values_limit: Annotated[int, Query(alias="meterValuesLimit", ge=1, le=10_000)] = 1000,
    meter_values_offset: Annotated[int, Query(alias="meterValuesOffset", ge=0, le=MAX_OFFSET)] = 0,
) -> TransactionDetail:
    """One transaction with its energy, cost and meter values in time order."""
    wanted = GetTransaction(
        transaction_id=transaction_id,
        meter_values_limit=meter_values_limit,
        meter_values_offset=meter_values_offset,
    )
    return await call(state, SessionsRpc.get_transaction, wanted)


@router.post(
    "/transactions/{transaction_id}/close", tags=["transactions"], response_model=TransactionDetail
)
async def close_transaction(
    state: State,
    principal: Operator,
    transaction_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)],
    body: CloseTransaction,
) -> TransactionDetail:
    """Close a stale or superseded transaction the CP never stopped; the reason is audited. An
    admin may give the final reading (`meterStop`), else the newest one received counts."""
    if body.meter_stop is not None and not principal.may(Role.ADMIN):
        raise ProblemError(403, "Closing with a meterStop of your own needs the admin role")
    closing = CloseStaleTransaction(
        transaction_id=transaction_id,
        operator=principal.name,
        reason=body.reason,
        force=body.force,
        meter_stop=body.meter_stop,
    )
    return await call(state, SessionsRpc.close_stale_transaction, closing)


@router.get("/meter-values", tags=["transactions"], response_model=Page[MeterValue])
async def list_meter_values(
    state: State,
    principal: Viewer,
    transaction_id: Annotated[
        int | None, Query(alias="transactionId", ge=-(2**63), le=2**63 - 1)
    ] = None,
    charge_point_id: CpFilter = None,
    connector_id: Annotated[int | None, Query(alias="connectorId", ge=0, le=2**63 - 1)] = None,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> Page[MeterValue]:
    """Sampled values in time order, of a transaction or of a CP's connector."""
    listing = ListMeterValues(
        transaction_id=transaction_id,
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        from_=start,
        to=end,
        limit=limit,
        offset=offset,
    )
    return await call(state, SessionsRpc.list_meter_values, listing)


@router.get("/unmatched-stops", tags=["transactions"], response_model=Page[UnmatchedStop])
async def list_unmatched_stops(
    state: State,
    principal: Viewer,
    charge_point_id: CpFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[UnmatchedStop]:
    """StopTransactions that matched no open transaction, kept for review."""
    listing = ListUnmatchedStops(charge_point_id=charge_point_id, limit=limit, offset=offset)
    return await call(state, SessionsRpc.list_unmatched_stops, listing)


# -- id tags --------------------------------------------------------------------------------


@router.get("/id-tags", tags=["id tags"], response_model=Page[IdTag])
async def list_id_tags(
    state: State,
    principal: Viewer,
    id_tag_status: Annotated[IdTagStatus | None, Query(alias="status")] = None,
    parent_id_tag: Annotated[
        str | None, Query(alias="parentIdTag", max_length=MAX_TOKEN_LENGTH)
    ] = None,
    search: Annotated[str | None, Query(max_length=50)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[IdTag]:
    """The authorization list."""
    listing = ListIdTags(
        status=id_tag_status,
        parent_id_tag=parent_id_tag,
        search=search,
        limit=limit,
        offset=offset,
    )
    return await call(state, SessionsRpc.list_id_tags, listing)


@router.post(
    "/id-tags",
    tags=["id tags"],
    status_code=status.HTTP_201_CREATED,
    response_model=IdTag,
    responses=problems.responses(409),
)
async def create_id_tag(state: State, principal: Admin, body: NewIdTag) -> IdTag:
    """Add an idTag (409 if it exists)."""
    creating = CreateIdTag.model_validate(body.model_dump(exclude_none=True))
    return await call(state, SessionsRpc.create_id_tag, creating)


@router.get("/id-tags/{id_tag}", tags=["id tags"], response_model=IdTag)
async def get_id_tag(state: State, principal: Viewer, id_tag: IdTagPath) -> IdTag:
    """One idTag."""
    return await call(state, SessionsRpc.get_id_tag, OfIdTag(id_tag=id_tag))


@router.patch("/id-tags/{id_tag}", tags=["id tags"], response_model=IdTag)
async def update_id_tag(
    state: State, principal: Admin, id_tag: IdTagPath, body: IdTagChange
) -> IdTag:
    """Change an idTag's status, type, expiry, parent, concurrency limit, charging priority or
    note."""
    changing = UpdateIdTag.model_validate({"id_tag": id_tag, **body.model_dump(exclude_none=True)})
    return await call(state, SessionsRpc.update_id_tag, changing)


@router.delete("/id-tags/{id_tag}", tags=["id tags"], status_code=status.HTTP_204_NO_CONTENT)
async def delete_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> Response:
    """Remove an idTag (its transactions stay)."""
    await call(state, SessionsRpc.delete_id_tag, OfIdTag(id_tag=id_tag))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/id-tags/{id_tag}/block", tags=["id tags"], response_model=IdTag)
async def block_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> IdTag:
    """Block an idTag: Authorize and StartTransaction answer Blocked."""
    return await call(state, SessionsRpc.block_id_tag, OfIdTag(id_tag=id_tag))


@router.post("/id-tags/{id_tag}/unblock", tags=["id tags"], response_model=IdTag)
async def unblock_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> IdTag:
    """Accept a blocked idTag again."""
    return await call(state, SessionsRpc.unblock_id_tag, OfIdTag(id_tag=id_tag))


# -- reservations and reports ---------------------------------------------------------------


@router.get("/reservations", tags=["reservations"], response_model=Page[Reservation])
async def list_reservations(
    state: State,
    principal: Viewer,
    charge_point_id: CpFilter = None,
    reservation_status: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[Reservation]:
    """Reservations made by accepted ReserveNow commands, newest first."""
    listing = ListReservations(
        charge_point_id=charge_point_id,
        status=reservation_status,
        active=active,
        limit=limit,
        offset=offset,
    )
    return await call(state, SessionsRpc.list_reservations, listing)


@router.get("/reports/energy", tags=["reports"], response_model=EnergyReport)
async def get_energy_report(
    state: State,
    principal: Viewer,
    start: From = None,
    end: To = None,
    charge_point_id: CpFilter = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> EnergyReport:
    """kWh and cost per CP and per day of the transactions stopped in [from, to)."""
    asked = EnergyReportParams(
        charge_point_id=charge_point_id, from_=start, to=end, limit=limit, offset=offset
    )
    return await call(state, SessionsRpc.energy_report, asked)

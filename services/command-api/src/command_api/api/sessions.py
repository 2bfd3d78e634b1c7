"""Transactions, meter values, id tags, reservations and the energy report, from session-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from csms_shared.ocpp._base import DateTime, format_datetime
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN

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
from .deps import MAX_OFFSET, Admin, Operator, State, Viewer, api_router, rpc

router = api_router(404, 503)

SESSIONS = "session-service"
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
CpFilter = Annotated[str | None, Query(alias="chargePointId", pattern=CHARGE_POINT_ID_PATTERN)]
IdTagPath = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[^\x00]+$")]
From = Annotated[datetime | None, Query(alias="from", description="RFC 3339, inclusive")]
To = Annotated[datetime | None, Query(alias="to", description="RFC 3339, exclusive")]
IdTagStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


def _iso(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


class ApiModel(BaseModel):
    """camelCase on the wire; unknown fields are an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def params(self) -> dict[str, Any]:
        """The RPC parameters: camelCase, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class IdTagFields(ApiModel):
    """An entry of the authorization list."""

    expiry_date: DateTime | None = None
    parent_id_tag: str | None = Field(default=None, min_length=1, max_length=20)
    max_concurrent_tx: int | None = Field(default=None, ge=1, le=1000)
    note: str | None = Field(default=None, max_length=200)


class NewIdTag(IdTagFields):
    """An idTag to add; Accepted unless told otherwise."""

    id_tag: str = Field(min_length=1, max_length=20)
    status: IdTagStatus = "Accepted"


class IdTagChange(IdTagFields):
    """What to change of an idTag."""

    status: IdTagStatus | None = None


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
    id_tag: Annotated[str | None, Query(alias="idTag", max_length=20)] = None,
    active: bool | None = None,
    stale: bool | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Transactions, newest first; filter by CP, connector, idTag, active, stale and start."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "list_transactions",
        chargePointId=charge_point_id,
        connectorId=connector_id,
        idTag=id_tag,
        active=active,
        stale=stale,
        **{"from": _iso(start), "to": _iso(end)},
        limit=limit,
        offset=offset,
    )
    return result


@router.get(
    "/transactions/{transaction_id}", tags=["transactions"], response_model=TransactionDetail
)
async def get_transaction(
    state: State,
    principal: Viewer,
    transaction_id: Annotated[int, Path(ge=-(2**31), le=2**31 - 1)],
    meter_values_limit: Annotated[int, Query(alias="meterValuesLimit", ge=1, le=10_000)] = 1000,
    meter_values_offset: Annotated[int, Query(alias="meterValuesOffset", ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """One transaction with its energy, cost and meter values in time order."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "get_transaction",
        transactionId=transaction_id,
        meterValuesLimit=meter_values_limit,
        meterValuesOffset=meter_values_offset,
    )
    return result


@router.post(
    "/transactions/{transaction_id}/close", tags=["transactions"], response_model=TransactionDetail
)
async def close_transaction(
    state: State,
    principal: Operator,
    transaction_id: Annotated[int, Path(ge=-(2**31), le=2**31 - 1)],
    body: CloseTransaction,
) -> dict[str, Any]:
    """Close a stale or superseded transaction the CP never stopped; the reason is audited. An
    admin may give the final reading (`meterStop`), else the newest one received counts."""
    if body.meter_stop is not None and not principal.may(Role.ADMIN):
        raise ProblemError(403, "Closing with a meterStop of your own needs the admin role")
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "close_stale_transaction",
        transactionId=transaction_id,
        operator=principal.name,
        **body.params(),
    )
    return result


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
) -> dict[str, Any]:
    """Sampled values in time order, of a transaction or of a CP's connector."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "list_meter_values",
        transactionId=transaction_id,
        chargePointId=charge_point_id,
        connectorId=connector_id,
        **{"from": _iso(start), "to": _iso(end)},
        limit=limit,
        offset=offset,
    )
    return result


@router.get("/unmatched-stops", tags=["transactions"], response_model=Page[UnmatchedStop])
async def list_unmatched_stops(
    state: State,
    principal: Viewer,
    charge_point_id: CpFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """StopTransactions that matched no open transaction, kept for review."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "list_unmatched_stops",
        chargePointId=charge_point_id,
        limit=limit,
        offset=offset,
    )
    return result


# -- id tags --------------------------------------------------------------------------------


@router.get("/id-tags", tags=["id tags"], response_model=Page[IdTag])
async def list_id_tags(
    state: State,
    principal: Viewer,
    id_tag_status: Annotated[IdTagStatus | None, Query(alias="status")] = None,
    parent_id_tag: Annotated[str | None, Query(alias="parentIdTag", max_length=20)] = None,
    search: Annotated[str | None, Query(max_length=50)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The authorization list."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "list_id_tags",
        status=id_tag_status,
        parentIdTag=parent_id_tag,
        search=search,
        limit=limit,
        offset=offset,
    )
    return result


@router.post(
    "/id-tags",
    tags=["id tags"],
    status_code=status.HTTP_201_CREATED,
    response_model=IdTag,
    responses=problems.responses(409),
)
async def create_id_tag(state: State, principal: Admin, body: NewIdTag) -> dict[str, Any]:
    """Add an idTag (409 if it exists)."""
    result: dict[str, Any] = await rpc(state, SESSIONS, "create_id_tag", **body.params())
    return result


@router.get("/id-tags/{id_tag}", tags=["id tags"], response_model=IdTag)
async def get_id_tag(state: State, principal: Viewer, id_tag: IdTagPath) -> dict[str, Any]:
    """One idTag."""
    result: dict[str, Any] = await rpc(state, SESSIONS, "get_id_tag", idTag=id_tag)
    return result


@router.patch("/id-tags/{id_tag}", tags=["id tags"], response_model=IdTag)
async def update_id_tag(
    state: State, principal: Admin, id_tag: IdTagPath, body: IdTagChange
) -> dict[str, Any]:
    """Change an idTag's status, expiry, parent, concurrency limit or note."""
    result: dict[str, Any] = await rpc(
        state, SESSIONS, "update_id_tag", idTag=id_tag, **body.params()
    )
    return result


@router.delete("/id-tags/{id_tag}", tags=["id tags"], status_code=status.HTTP_204_NO_CONTENT)
async def delete_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> Response:
    """Remove an idTag (its transactions stay)."""
    await rpc(state, SESSIONS, "delete_id_tag", idTag=id_tag)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/id-tags/{id_tag}/block", tags=["id tags"], response_model=IdTag)
async def block_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> dict[str, Any]:
    """Block an idTag: Authorize and StartTransaction answer Blocked."""
    result: dict[str, Any] = await rpc(state, SESSIONS, "block_id_tag", idTag=id_tag)
    return result


@router.post("/id-tags/{id_tag}/unblock", tags=["id tags"], response_model=IdTag)
async def unblock_id_tag(state: State, principal: Admin, id_tag: IdTagPath) -> dict[str, Any]:
    """Accept a blocked idTag again."""
    result: dict[str, Any] = await rpc(state, SESSIONS, "unblock_id_tag", idTag=id_tag)
    return result


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
) -> dict[str, Any]:
    """Reservations made by accepted ReserveNow commands, newest first."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "list_reservations",
        chargePointId=charge_point_id,
        status=reservation_status,
        active=active,
        limit=limit,
        offset=offset,
    )
    return result


@router.get("/reports/energy", tags=["reports"], response_model=EnergyReport)
async def get_energy_report(
    state: State,
    principal: Viewer,
    start: From = None,
    end: To = None,
    charge_point_id: CpFilter = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """kWh and cost per CP and per day of the transactions stopped in [from, to)."""
    result: dict[str, Any] = await rpc(
        state,
        SESSIONS,
        "energy_report",
        chargePointId=charge_point_id,
        **{"from": _iso(start), "to": _iso(end)},
        limit=limit,
        offset=offset,
    )
    return result

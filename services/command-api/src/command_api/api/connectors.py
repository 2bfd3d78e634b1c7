"""Connectors as operators name them: stop what charges on connector n of a CP (for a 2.0.1
station, n is the EVSE)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from csms_shared.contracts.rpc import ListConnectors, ListTransactions, RegistryRpc, SessionsRpc
from csms_shared.ocpp import INT32_MAX, v201
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.v16.messages import RemoteStopTransactionResponse
from csms_shared.ocpp.version import OcppVersion

from ..models import ConnectorOfChargePoint, Page, Resource
from ..problems import ProblemError
from ..station_actions import StopTransaction
from .command_sending import COMMAND_PROBLEMS, send_command
from .deps import MAX_OFFSET, Operator, Session, State, Viewer, api_router, call

router = api_router(404, tags=["transactions"])


class ConnectorStopped(Resource):
    """The CP answered RemoteStopTransaction (2.0.1: RequestStopTransaction) for the
    transaction active on the connector."""

    command_id: str
    transaction_id: int
    response: RemoteStopTransactionResponse | v201.RequestStopTransactionResponse


class ConnectorStopSent(Resource):
    """`?wait=false`: RemoteStopTransaction is on its way; its outcome lands on the command."""

    command_id: str
    transaction_id: int
    status: str


CpId = Annotated[str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN)]
ConnectorId = Annotated[int, Path(alias="connector", ge=1, le=INT32_MAX)]


@router.get("/connectors", response_model=Page[ConnectorOfChargePoint])
async def list_connectors(
    state: State,
    principal: Viewer,
    charge_point_id: Annotated[
        str | None, Query(alias="chargePointId", pattern=CHARGE_POINT_ID_PATTERN)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ConnectorOfChargePoint]:
    """Connectors with their last status and availability, by CP; filter by chargePointId."""
    listing = ListConnectors(charge_point_id=charge_point_id, limit=limit, offset=offset)
    return await call(state, RegistryRpc.list_connectors, listing)


@router.post(
    "/charge-points/{id}/connectors/{connector}/stop",
    response_model=ConnectorStopped,
    responses={202: {"model": ConnectorStopSent}, **COMMAND_PROBLEMS},
)
async def stop_connector(
    state: State,
    session: Session,
    principal: Operator,
    cp_id: CpId,
    connector: ConnectorId,
    timeout: Annotated[float | None, Query(gt=0, description="Seconds to wait for the CP")] = None,
    wait: Annotated[bool, Query(description="false: answer 202 at once")] = True,
) -> JSONResponse:
    """Stop the transaction active on this connector (a 2.0.1 station's EVSE): the stop of the
    station's version with the id the station knows it by (found here, so the operator need not
    look it up); 404 when nothing charges there."""
    active = await call(
        state,
        SessionsRpc.list_transactions,
        ListTransactions(charge_point_id=cp_id, connector_id=connector, active=True, limit=1),
    )
    if not active.items:
        raise ProblemError(
            404, f"No transaction is active on connector {connector} of charge point {cp_id!r}"
        )
    found = active.items[0]
    transaction_id = found.transaction_id
    version = OcppVersion(found.ocpp_version)
    stop = StopTransaction(
        transaction_id=found.station_transaction_id
        if version is OcppVersion.V201
        else transaction_id
    ).command(version)
    sent = await send_command(
        state, session, principal, cp_id, stop.action, stop.payload, timeout, wait
    )
    if not wait or sent.response is None:
        return JSONResponse(
            {"commandId": sent.command_id, "status": "pending", "transactionId": transaction_id},
            202,
        )
    return JSONResponse(
        {"commandId": sent.command_id, "transactionId": transaction_id, "response": sent.response}
    )

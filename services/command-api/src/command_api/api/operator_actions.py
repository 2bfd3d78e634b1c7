"""`POST /charge-points/{id}/actions/<name>`: what an operator means (start a session, stop a
transaction, reset, unlock, change availability, reserve, ask for a status), sent as the
command of the station's OCPP version (`station_actions`), through the same path, audit log
and roles as `POST /charge-points/{id}/commands/{Action}`.

No `from __future__ import annotations` here: each route's body annotation is a closure
variable that FastAPI must see as a class, not as a string.
"""

from typing import Annotated

from fastapi import Body, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError

from csms_shared.contracts.resources import JsonObject
from csms_shared.contracts.rpc import GetTransaction, SessionsRpc
from csms_shared.ocpp.version import OcppVersion

from ..auth import Principal
from ..models import Resource
from ..problems import ProblemError, wire_loc
from ..station_actions import ACTIONS, OperatorAction, StopTransaction, Translated
from ..versions import station_version
from .command_sending import COMMAND_PROBLEMS, Sent, Station, send_command
from .commands import CommandAccepted, CpId
from .deps import AppState, Operator, Session, State, api_router, call

router = api_router(tags=["operator actions"])


class ActionResult(Resource):
    """The charge point answered the command the action became."""

    command_id: str
    action: str = Field(description="The OCPP action sent, e.g. RequestStartTransaction")
    ocpp_version: str = Field(description="The station's OCPP version it was spelt in")
    response: JsonObject = Field(description="The CP's CALLRESULT payload")


def translate(cp_id: str, body: OperatorAction, version: OcppVersion) -> Translated:
    """The command `body` is in `version`; 422 naming the OCPP field the version refuses."""
    try:
        return body.command(version)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *wire_loc(e["loc"])), "msg": f"OCPP {version}: {e['msg']}"}
                for e in exc.errors()
            ]
        ) from None


async def by_station_id(state: AppState, cp_id: str, body: StopTransaction) -> StopTransaction:
    """A 2.0.1 station knows its transactions by the ids it chose: our integer id becomes the
    station's (404 when the station has no such transaction). A string is the station's own."""
    if isinstance(body.transaction_id, str):
        return body
    try:
        found = await call(
            state, SessionsRpc.get_transaction, GetTransaction(transaction_id=body.transaction_id)
        )
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        found = None
    if found is None or found.charge_point_id != cp_id:
        raise ProblemError(404, f"Charge point {cp_id!r} has no transaction {body.transaction_id}")
    return StopTransaction(transaction_id=found.station_transaction_id)


async def run_action(
    state: AppState,
    session: Session,
    principal: Principal,
    cp_id: str,
    body: OperatorAction,
    timeout: float | None,
    wait: bool,
) -> tuple[Translated, Sent]:
    """Spell `body` in the station's version and send it; 409 for a station whose version is
    not known (it never connected, or the registry cannot say): an operator action is spelled
    in the station's version, never in one assumed for it."""
    known = await station_version(state, cp_id)
    if known is None:
        raise ProblemError(
            409,
            f"The OCPP version of charge point {cp_id!r} is not known (it has not connected yet,"
            " or the registry does not answer): the action is spelled in the station's version",
            title="The charge point's OCPP version is not known",
        )
    if isinstance(body, StopTransaction) and known is OcppVersion.V201:
        body = await by_station_id(state, cp_id, body)
    translated = translate(cp_id, body, known)
    sent = await send_command(
        state, session, principal, cp_id, translated.action, translated.payload, timeout, wait,
        station=Station(known),
    )  # fmt: skip
    return translated, sent


def _add_route(name: str, model: type[OperatorAction]) -> None:
    async def endpoint(
        state: State,
        session: Session,
        principal: Operator,
        cp_id: CpId,
        body: Annotated[model, Body()],  # type: ignore[valid-type]
        timeout: Annotated[
            float | None, Query(gt=0, description="Seconds to wait for the CP (default 30)")
        ] = None,
        wait: Annotated[bool, Query(description="false: answer 202 at once")] = True,
    ) -> JSONResponse:
        translated, sent = await run_action(state, session, principal, cp_id, body, timeout, wait)
        shown = {
            "commandId": sent.command_id,
            "action": translated.action,
            "ocppVersion": translated.version.value,
        }
        if not wait or sent.response is None:
            return JSONResponse({**shown, "status": "pending"}, 202)
        return JSONResponse({**shown, "response": sent.response})

    endpoint.__name__ = name.replace("-", "_")
    endpoint.__doc__ = (model.__doc__ or "").strip() + (
        " Sent as the command of the charge point's OCPP version."
    )
    router.add_api_route(
        f"/charge-points/{{id}}/actions/{name}",
        endpoint,
        methods=["POST"],
        summary=name,
        response_model=ActionResult,
        responses={202: {"model": CommandAccepted}, **COMMAND_PROBLEMS},
    )


for _name, _model in ACTIONS.items():
    _add_route(_name, _model)

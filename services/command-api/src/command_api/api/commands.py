"""`POST /charge-points/{id}/commands/{Action}`: every CS->CP action of OCPP 1.6 and 2.0.1,
checked against the version the charge point speaks (then sent by `command_sending.py`), and
the audit log.

No `from __future__ import annotations` here: each route's body annotation is a closure
variable that FastAPI must see as a class, not as a string.
"""

from functools import reduce
from operator import or_
from typing import Annotated, Any

from fastapi import Body, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import Field, PlainValidator, create_model
from pydantic_core import PydanticCustomError

from csms_shared.contracts.resources import JsonObject
from csms_shared.ocpp.catalog import catalog
from csms_shared.ocpp.identity import CHARGE_POINT_ID_PATTERN
from csms_shared.ocpp.version import OcppVersion

from .. import problems, recorder
from ..models import Command, Page, Resource
from ..recorder import command_of
from ..versions import ALL_ACTIONS, parse_request, station_version, version_for
from .command_sending import COMMAND_PROBLEMS, Station, send_command
from .deps import MAX_OFFSET, Operator, Session, State, Viewer, api_router

router = api_router(tags=["commands"])

CpId = Annotated[
    str, Path(alias="id", pattern=CHARGE_POINT_ID_PATTERN, description="Charge point id")
]


class CommandResult(Resource):
    """The charge point answered CALLRESULT."""

    command_id: str
    response: JsonObject = Field(description="The CP's CALLRESULT payload")


class CommandAccepted(Resource):
    """`?wait=false`: the command is on its way; read its outcome at /commands/{commandId}."""

    command_id: str
    status: str = Field(description="Always `pending`")


def _json_object(value: Any) -> JsonObject:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a JSON object")
    return value


def _specs(action: str) -> dict[OcppVersion, Any]:
    return {v: catalog(v).actions[action] for v in OcppVersion if action in catalog(v).to_station}


def _add_action_route(action: str) -> None:
    specs = _specs(action)
    versions = " and ".join(f"OCPP {v}" for v in specs)
    # Checked against the station's version at run time; documented as either version's schema.
    request_schema = reduce(or_, [spec.request for spec in specs.values()])
    Payload = Annotated[
        JsonObject,
        PlainValidator(_json_object, json_schema_input_type=request_schema),
        Body(description=f"The {action} request of the charge point's version ({versions})"),
    ]

    async def endpoint(
        state: State,
        session: Session,
        principal: Operator,
        cp_id: CpId,
        body: Payload,
        timeout: Annotated[
            float | None, Query(gt=0, description="Seconds to wait for the CP (default 30)")
        ] = None,
        wait: Annotated[bool, Query(description="false: answer 202 at once")] = True,
    ) -> JSONResponse:
        known = await station_version(state, cp_id)
        version = version_for(cp_id, known, action)
        payload = parse_request(version, action, body)
        sent = await send_command(
            state, session, principal, cp_id, action, payload, timeout, wait,
            station=Station(known),
        )  # fmt: skip
        if not wait or sent.response is None:
            return JSONResponse({"commandId": sent.command_id, "status": "pending"}, 202)
        # The CP's payload as it sent it (the gateway checked it against the action's schema).
        return JSONResponse({"commandId": sent.command_id, "response": sent.response})

    endpoint.__name__ = _snake(action if action.startswith("Send") else "Send" + action)
    endpoint.__doc__ = (
        f"Send {action} ({versions}) to the charge point and return its answer; the body is "
        "checked against the version the charge point's connection speaks."
    )
    result = create_model(
        f"{action}Result",
        __base__=CommandResult,
        __doc__=f"The charge point answered {action} with CALLRESULT.",
        response=(
            reduce(or_, [spec.response for spec in specs.values()]),
            Field(description="The CP's CALLRESULT payload"),
        ),
    )
    router.add_api_route(
        f"/charge-points/{{id}}/commands/{action}",
        endpoint,
        methods=["POST"],
        summary=action,
        response_model=result,
        responses={202: {"model": CommandAccepted}, **COMMAND_PROBLEMS},
    )


def _snake(action: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")


for _action in sorted(ALL_ACTIONS):
    _add_action_route(_action)


@router.post(
    "/charge-points/{id}/commands/{action}",
    status_code=422,
    include_in_schema=False,
)
async def unknown_action(cp_id: CpId, action: str, principal: Operator) -> None:
    """Any other action name: 422 naming the ones there are."""
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"Unknown action {action!r}; the central system can send: "
        + ", ".join(sorted(ALL_ACTIONS)),
    )


@router.get("/commands", tags=["audit"], response_model=Page[Command])
async def list_commands(
    session: Session,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    charge_point_id: Annotated[str | None, Query(alias="chargePointId")] = None,
    action: str | None = None,
    command_status: Annotated[str | None, Query(alias="status")] = None,
) -> Page[Command]:
    """The audit log of commands, newest first."""
    rows, total = await recorder.list_commands(
        session,
        limit=limit,
        offset=offset,
        charge_point_id=charge_point_id,
        action=action,
        status=command_status,
    )
    return Page[Command](
        items=[command_of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/commands/{command_id}",
    tags=["audit"],
    response_model=Command,
    responses=problems.responses(404),
)
async def get_command(session: Session, principal: Viewer, command_id: str) -> Command:
    """One command: who sent what, when, and what came of it."""
    row = await recorder.get_command(session, command_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No command {command_id!r}")
    return command_of(row)

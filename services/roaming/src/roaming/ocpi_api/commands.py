"""/ocpi/2.2.1/commands/{command}: the receiver interface an eMSP sends its commands to
(START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION, UNLOCK_CONNECTOR), answered at
once with a CommandResponse; the CommandResult follows at the command's `response_url`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .. import command_store
from ..command_store import CommandError, Refused
from ..ocpi.commands import COMMAND_BODIES, CommandResponse, CommandType
from ..ocpi.types import VERSION, DisplayText, Status
from .answers import OcpiError, envelope
from .routing import Routed
from .state import AppState

router = APIRouter(prefix=f"/ocpi/{VERSION}/commands")


@router.post("/{command}")
async def post_command(request: Request, routed: Routed, command: CommandType) -> JSONResponse:
    try:
        raw: Any = await request.json()
        body = COMMAND_BODIES[command].model_validate(raw)
    except ValueError as exc:  # not JSON, or not the command's body (ValidationError)
        problems = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            if isinstance(exc, ValidationError)
            else "the body is not JSON"
        )
        raise OcpiError(problems, Status.INVALID_PARAMETERS, 400) from None
    state: AppState = request.app.state.roaming
    caller = routed.sender or min(routed.parties, default=routed.ours)
    try:
        async with state.sessions.begin() as session:
            answer = await command_store.take(
                session,
                state.settings,
                command,
                body,
                platform_id=routed.platform_id,
                caller=caller,
                may_act_for=routed.may_act_for,
            )
    except CommandError as exc:
        raise OcpiError(str(exc), exc.status, exc.http) from None
    except Refused as exc:
        answer = CommandResponse(
            result=exc.result, timeout=0, message=[DisplayText(language="en", text=str(exc))]
        )
    return routed.stamp(envelope(answer.wire()))

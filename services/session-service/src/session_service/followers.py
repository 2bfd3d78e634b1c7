"""Events the session-service follows: command outcomes (reservations) and connectors seen."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from csms_shared.ocpp._base import utcnow
from csms_shared.ocpp.v16.enums import CancelReservationStatus, ReservationStatus
from csms_shared.ocpp.v16.messages import (
    CancelReservationRequest,
    CancelReservationResponse,
    ReserveNowRequest,
    ReserveNowResponse,
)

from . import local_list, reservations
from .router import Ctx, router

log = logging.getLogger(__name__)


def _at(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(event["at"]))
    except (KeyError, ValueError):
        return utcnow()


@router.event("command.completed")
async def command_completed(event: dict[str, Any], ctx: Ctx) -> None:
    """Accepted ReserveNow/CancelReservation change reservations; local list versions noted."""
    action, cp_id = event.get("action"), event.get("chargePointId")
    if event.get("status") != "result":
        return
    if action in ("SendLocalList", "GetLocalListVersion") and isinstance(cp_id, str):
        await local_list.record(ctx.session, event, _at(event))
        return
    if action not in ("ReserveNow", "CancelReservation"):
        return
    if not isinstance(cp_id, str):
        log.warning("command.completed %s without a chargePointId; ignored", action)
        return
    try:
        if action == "ReserveNow":
            request = ReserveNowRequest.model_validate(event.get("request"))
            response = ReserveNowResponse.model_validate(event.get("response"))
        else:
            cancel = CancelReservationRequest.model_validate(event.get("request"))
            cancelled = CancelReservationResponse.model_validate(event.get("response"))
    except ValidationError as exc:
        # Never requeue a malformed event: it would fail the same way every time.
        log.warning("command.completed %s for %s is malformed; ignored: %s", action, cp_id, exc)
        return
    at = _at(event)
    if action == "ReserveNow":
        if response.status is not ReservationStatus.ACCEPTED:
            return
        command_id = str(event.get("commandId", ""))[:64]
        await reservations.reserve(ctx.session, cp_id, command_id, request, at)
    elif cancelled.status is CancelReservationStatus.ACCEPTED:
        await reservations.end(
            ctx.session, cp_id, cancel.reservation_id, reservations.CANCELLED, at
        )


@router.event("connector.status")
async def connector_status(event: dict[str, Any], ctx: Ctx) -> None:
    """Remember the connectors a CP reports, to tell an unknown connector in a transaction."""
    await connectors_status([event], ctx)


@router.on_event_group("connector.status")
async def connectors_status(events: list[dict[str, Any]], ctx: Ctx) -> None:
    """`connector_status` of many (a connect storm's StatusNotifications) in one statement."""
    new: set[tuple[str, int]] = set()
    for event in events:
        cp_id, connector_id = event.get("chargePointId"), event.get("connectorId")
        if not (isinstance(cp_id, str) and isinstance(connector_id, int)):
            continue
        if 0 < connector_id < 2**31 and not reservations.connector_known(cp_id, connector_id):
            new.add((cp_id, connector_id))  # one this process knows is stored needs nothing
    if new:
        await reservations.remember_connectors(ctx.session, sorted(new))
        ctx.on_commit(lambda: [reservations.connector_remembered(*pair) for pair in new])

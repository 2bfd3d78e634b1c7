"""Events the session-service follows: command outcomes (reservations), connectors seen, and
the charging states 1.6 stations report by StatusNotification, each change of an open
transaction's announced as `transaction.charging_state_changed` (as a 2.0.1 TransactionEvent's
is)."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from csms_shared.contracts.events import (
    CommandCompleted,
    ConnectorStatus,
    TransactionChargingStateChanged,
)
from csms_shared.ocpp import INT32_MAX, v201
from csms_shared.ocpp.v16.enums import CancelReservationStatus, ReservationStatus
from csms_shared.ocpp.v16.messages import (
    CancelReservationRequest,
    CancelReservationResponse,
    ReserveNowRequest,
    ReserveNowResponse,
)
from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary.evses import ConnectorRef

from . import charging_states, local_list, reservations
from .router import Ctx, router

log = logging.getLogger(__name__)


LOCAL_LIST = ("SendLocalList", "GetLocalListVersion")
RESERVING = ("ReserveNow", "CancelReservation")


# The outcomes of these actions alone reach the queue (bus/stations.py): of both versions.
@router.event("command.completed", actions=LOCAL_LIST + RESERVING)
async def command_completed(event: CommandCompleted, ctx: Ctx) -> None:
    """Accepted ReserveNow/CancelReservation change reservations; local list versions noted."""
    action, cp_id, command_id = event.action, event.charge_point_id, event.command_id
    if event.status != "result" or cp_id is None or command_id is None:
        return  # only a request refused before it became a command lacks them
    if action in LOCAL_LIST:
        await local_list.record(ctx.session, event)
        return
    if action not in RESERVING:
        return
    try:
        if action == "ReserveNow":
            request, response = _reserve_now(event)
        else:
            cancel, cancelled = _cancel_reservation(event)
    except ValidationError as exc:
        # Never requeue a malformed event: it would fail the same way every time.
        log.warning("command.completed %s for %s is malformed; ignored: %s", action, cp_id, exc)
        return
    at = event.at
    if action == "ReserveNow":
        if response.status is not ReservationStatus.ACCEPTED:
            return
        await reservations.reserve(ctx.session, cp_id, command_id[:64], request, at)
    elif cancelled.status is CancelReservationStatus.ACCEPTED:
        await reservations.end(
            ctx.session, cp_id, cancel.reservation_id, reservations.CANCELLED, at
        )


def _reserve_now(event: CommandCompleted) -> tuple[ReserveNowRequest, ReserveNowResponse]:
    """A ReserveNow of either version in 1.6's terms: a 2.0.1 EVSE is what 1.6 calls a
    connector (none: any, connector 0), its idToken the id tag, its group token the parent.
    A token longer than an id tag (20) breaks the 1.6 model: such a reservation is not kept."""
    if event.ocpp_version is not OcppVersion.V201:
        return event.read(ReserveNowRequest, ReserveNowResponse)
    asked, answer = event.read(v201.ReserveNowRequest, v201.ReserveNowResponse)
    request = ReserveNowRequest(
        connector_id=asked.evse_id or 0,
        expiry_date=asked.expiry_date_time,
        id_tag=asked.id_token.id_token,
        reservation_id=asked.id,
    )
    if asked.group_id_token is not None:
        request.parent_id_tag = asked.group_id_token.id_token
    return request, ReserveNowResponse(status=ReservationStatus(answer.status.value))


def _cancel_reservation(
    event: CommandCompleted,
) -> tuple[CancelReservationRequest, CancelReservationResponse]:
    """A CancelReservation of either version in 1.6's terms (the same fields)."""
    if event.ocpp_version is not OcppVersion.V201:
        return event.read(CancelReservationRequest, CancelReservationResponse)
    asked, answer = event.read(v201.CancelReservationRequest, v201.CancelReservationResponse)
    return (
        CancelReservationRequest(reservation_id=asked.reservation_id),
        CancelReservationResponse(status=CancelReservationStatus(answer.status.value)),
    )


@router.event("connector.status")
async def connector_status(event: ConnectorStatus, ctx: Ctx) -> None:
    """Remember the connectors a CP reports, to tell an unknown connector in a transaction, and
    keep a 1.6 station's charging state against the transaction open on the connector,
    announcing it when it is that transaction's new newest one."""
    await connectors_status([event], ctx)


def _charging_state(event: ConnectorStatus) -> charging_states.ConnectorReport | None:
    """The charging state a 1.6 StatusNotification says (Preparing, Charging, SuspendedEV,
    SuspendedEVSE, Finishing), at the station's time capped at the event's. None for any other
    status, and for 2.0.1, whose state comes with its TransactionEvents."""
    state = event.report().charging_state
    if state is None or event.ocpp_version is not OcppVersion.V16:
        return None
    return charging_states.ConnectorReport(
        charge_point_id=event.charge_point_id,
        connector_id=event.connector_id,
        ocpp_version=event.ocpp_version.value,
        at=charging_states.reported_at(event.timestamp, event.at),
        state=state,
    )


def _announced(change: charging_states.Changed) -> TransactionChargingStateChanged:
    """The 1.6 transaction's new charging state in the event both versions share: the
    transactionId the station knows is ours, its connector EVSE n's connector 1."""
    report, transaction_id = change.report, change.transaction_id
    return TransactionChargingStateChanged(
        at=report.at,
        charge_point_id=report.charge_point_id,
        connector_id=report.connector_id,
        evse_connector_id=ConnectorRef.from_v16(report.connector_id).connector_id,
        transaction_id=transaction_id,
        station_transaction_id=str(transaction_id),
        charging_state=report.state,
        ocpp_version=OcppVersion(report.ocpp_version),
    )


@router.on_event_group("connector.status")
async def connectors_status(events: list[ConnectorStatus], ctx: Ctx) -> None:
    """`connector_status` of many (a connect storm's StatusNotifications) in a few statements."""
    reports = [report for event in events if (report := _charging_state(event)) is not None]
    changed = await charging_states.record_reports(ctx.session, reports)
    await ctx.emit_many([_announced(change) for change in changed])
    new: set[tuple[str, int]] = set()
    for event in events:
        cp_id, connector_id = event.charge_point_id, event.connector_id
        if 0 < connector_id <= INT32_MAX and not reservations.connector_known(cp_id, connector_id):
            new.add((cp_id, connector_id))  # one this process knows is stored needs nothing
    if new:
        await reservations.remember_connectors(ctx.session, sorted(new))

        def remembered() -> None:
            for pair in new:
                reservations.connector_remembered(*pair)

        ctx.on_commit(remembered)

"""ReservationStatusUpdate (2.0.1): a station says a reservation expired or was removed (1.6
stations say nothing; their reservations end by use, CancelReservation or our own expiry)."""

from __future__ import annotations

from csms_shared.ocpp.v201 import messages as v201
from csms_shared.ocpp.v201.actions import Action as V201Action
from csms_shared.ocpp.v201.enums import ReservationUpdateStatusEnum

from . import reservations
from .handling import received_at
from .router import CallCtx, router

# Removed: the station took the reservation off (an operator at the station, a reset): no
# longer in force, as a cancelled one.
_ENDED_AS = {
    ReservationUpdateStatusEnum.EXPIRED: reservations.EXPIRED,
    ReservationUpdateStatusEnum.REMOVED: reservations.CANCELLED,
}


@router.on(V201Action.RESERVATION_STATUS_UPDATE)
async def reservation_status_update(
    request: v201.ReservationStatusUpdateRequest, ctx: CallCtx
) -> v201.ReservationStatusUpdateResponse:
    """End the reservation if it is still active (one already used or ended stays as it is)."""
    await reservations.end(
        ctx.session,
        ctx.charge_point_id,
        request.reservation_id,
        _ENDED_AS[request.reservation_update_status],
        received_at(ctx),
    )
    return v201.ReservationStatusUpdateResponse()

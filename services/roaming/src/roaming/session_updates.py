"""A running roaming session's updates: its kWh from its station's meter values, a charging
period more and its cost so far, the whole Session PUT to its eMSP now and then (its start and
end: session_store.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcClient, RpcError
from csms_shared.contracts.rpc import OfTransaction, SessionsRpc
from csms_shared.contracts.session_events import MeterValues
from csms_shared.vocabulary.readings import Measurand, Reading

from . import session_documents
from .db import sessions
from .location_documents import Publisher
from .ocpi.sessions import Session, SessionStatus
from .ocpi.versions import ModuleId
from .platforms import now
from .push_queue import Push, enqueue, receivers
from .session_store import token_ref

log = logging.getLogger(__name__)


def register_wh(readings: list[Reading]) -> Decimal | None:
    """The energy register a station's readings show, in Wh: the highest total (no phase)
    Energy.Active.Import.Register in Wh or kWh; None when they hold none."""
    found = [
        Decimal(str(r.value)) * (1000 if (r.unit or "Wh") == "kWh" else 1)
        for r in readings
        if r.measurand == Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
        and r.phase is None
        and r.value is not None
        and (r.unit or "Wh") in ("Wh", "kWh")
    ]
    return max(found) if found else None


async def metered(
    session: AsyncSession,
    event: MeterValues,
    publisher: Publisher,
    interval: float,
    rpc: RpcClient | None,
) -> bool:
    """A running roaming session's kWh from its station's meter values, at most every
    `interval` seconds: a charging period added from the last update (or the start) to now
    with the kWh delivered in it and its hours, its cost so far as the session-service's one
    formula computes it (`total_cost`; asked over `rpc`, kept as it was when no answer comes),
    and the whole Session PUT to its eMSP (a PUT, not a PATCH: OCPI leaves open whether a
    PATCHed list replaces or extends the one held). Whether one was queued."""
    if event.transaction_id is None:
        return False
    register = register_wh(event.readings)
    if register is None:
        return False
    row = (
        await session.execute(
            select(sessions)
            .where(
                sessions.c.transaction_id == event.transaction_id,
                sessions.c.charge_point_id == event.charge_point_id,
                sessions.c.status == SessionStatus.ACTIVE.value,
            )
            .with_for_update()
        )
    ).first()
    at = now()
    if row is None or (at - row.last_updated).total_seconds() < interval:
        return False
    kwh = max(Decimal(0), (register - row.meter_start) / 1000)
    if Decimal(str(row.document.get("kwh", 0))) == kwh:
        return False
    since, kwh_before = session_documents.last_boundary(
        row.document, datetime.fromisoformat(row.document["start_date_time"])
    )
    added = session_documents.period(since, at, kwh - kwh_before)
    running = [*(row.document.get("charging_periods") or []), added]
    changes: dict[str, Any] = {"kwh": kwh, "last_updated": at, "charging_periods": running}
    if (cost := await _cost_so_far(rpc, row.transaction_id)) is not None:
        changes["total_cost"] = cost
    document = Session.model_validate(row.document | changes).wire()
    await session.execute(
        update(sessions).where(sessions.c.id == row.id).values(document=document, last_updated=at)
    )
    token = token_ref(row.token)
    if token.platform_id not in await receivers(session, ModuleId.SESSIONS):
        return False
    await enqueue(
        session,
        Push(
            module=ModuleId.SESSIONS,
            object_key=f"session:{row.id}",
            method="PUT",
            path=f"/{publisher.country_code}/{publisher.party_id}/{row.id}",
            body=document,
            supersedes="object",
            to=(token.country_code, token.party_id),
        ),
        [token.platform_id],
    )
    return True


async def _cost_so_far(rpc: RpcClient | None, transaction_id: int) -> dict[str, Any] | None:
    """The transaction's cost so far as an OCPI Price, from the session-service; None when it
    cannot say now (the Session keeps the cost it had)."""
    if rpc is None:
        return None
    try:
        cost = await rpc.call(
            SessionsRpc.running_cost, OfTransaction(transaction_id=transaction_id), timeout=5.0
        )
    except RpcError as exc:
        log.warning("no cost so far for transaction %s: %s", transaction_id, exc)
        return None
    price: dict[str, Any] = {"excl_vat": cost.cost_excl_vat}
    if cost.cost_incl_vat is not None:
        price["incl_vat"] = cost.cost_incl_vat
    return price

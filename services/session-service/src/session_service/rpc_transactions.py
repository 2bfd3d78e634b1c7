"""RPC methods on transactions: list, one with its meter values, what one costs so far,
operator close, review."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.events import TransactionStopped
from csms_shared.contracts.resources import (
    Page,
    RunningCost,
    Transaction,
    TransactionDetail,
    UnmatchedStop,
)
from csms_shared.contracts.rpc import (
    CloseStaleTransaction,
    GetTransaction,
    ListTransactions,
    ListUnmatchedStops,
    OfTransaction,
    SessionsRpc,
)

from . import charging_states, energy
from . import meter_values as mv
from .checks import INT32, fits
from .db import meter_values, transaction_audit, transactions, unmatched_stops
from .resources import (
    audit_entry_of,
    costs,
    live_energy_wh,
    meter_value_of,
    number,
    transaction_of,
    unmatched_stop_of,
)
from .router import Ctx, router
from .transactions import OPERATOR, apply_stop, audit, load_for_update

tx = transactions.c


def _transaction_id(params: OfTransaction) -> int:
    value = params.transaction_id
    if not fits(value, INT32):
        raise RpcError("not_found", f"transaction {value} does not exist")
    return value


@router.rpc(SessionsRpc.list_transactions, callers={"command-api"})
async def list_transactions(params: ListTransactions, ctx: Ctx) -> Page[Transaction]:
    """A page of transactions, newest start first, filtered as the REST query asks."""
    # Filters: chargePointId, connectorId, idTag (any case), active, stale (open and flagged),
    # from/to on the start time.
    limit, offset = params.limit, params.offset
    start, end = params.from_, params.to
    where: list[Any] = []
    if (cp_id := params.charge_point_id) is not None:
        where.append(tx.charge_point_id == cp_id)
    if (connector := params.connector_id) is not None:
        where.append(tx.connector_id == connector)
    if (id_tag := params.id_tag) is not None:
        where.append(func.lower(tx.id_tag) == id_tag.lower())
    if (active := params.active) is not None:
        where.append(tx.stop_time.is_(None) if active else tx.stop_time.is_not(None))
    if (stale := params.stale) is not None:
        flagged = tx.stale_since.is_not(None) & tx.stop_time.is_(None)
        where.append(flagged if stale else ~flagged)
    if start is not None:
        where.append(tx.start_time >= start)
    if end is not None:
        where.append(tx.start_time < end)
    total = await ctx.session.scalar(select(func.count()).select_from(transactions).where(*where))
    rows = await ctx.session.execute(
        select(transactions)
        .where(*where)
        .order_by(tx.start_time.desc(), tx.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return Page[Transaction](
        items=[transaction_of(row, Transaction) for row in rows],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


async def _with_details(
    session: AsyncSession, row: Row[Any], *, limit: int, offset: int
) -> TransactionDetail:
    transaction_id = row.id
    values = await mv.for_transaction(session, transaction_id, limit=limit, offset=offset)
    total = await session.scalar(
        select(func.count())
        .select_from(meter_values)
        .where(meter_values.c.transaction_id == transaction_id)
    )
    entries = await session.execute(
        select(transaction_audit)
        .where(transaction_audit.c.transaction_id == transaction_id)
        .order_by(transaction_audit.c.id)
    )
    return transaction_of(
        row,
        TransactionDetail,
        meter_values=[meter_value_of(value) for value in values],
        meter_values_total=int(total or 0),
        audit=[audit_entry_of(entry) for entry in entries],
    )


@router.rpc(SessionsRpc.get_transaction, callers={"command-api"})
async def get_transaction(params: GetTransaction, ctx: Ctx) -> TransactionDetail:
    """One transaction with its sampled values in time order (paged) and its audit trail."""
    transaction_id = _transaction_id(params)
    limit, offset = params.meter_values_limit, params.meter_values_offset
    row = (await ctx.session.execute(select(transactions).where(tx.id == transaction_id))).first()
    if row is None:
        raise RpcError("not_found", f"transaction {transaction_id} does not exist")
    return await _with_details(ctx.session, row, limit=limit, offset=offset)


@router.rpc(SessionsRpc.running_cost, callers={"command-api", "roaming"})
async def running_cost(params: OfTransaction, ctx: Ctx) -> RunningCost:
    """What a transaction costs so far (its final cost once it ended): the one cost formula,
    as the stop will apply it, over its energy, time and parking time up to now."""
    transaction_id = _transaction_id(params)
    row = (await ctx.session.execute(select(transactions).where(tx.id == transaction_id))).first()
    if row is None:
        raise RpcError("not_found", f"transaction {transaction_id} does not exist")
    if row.stop_time is not None:
        excl, incl = costs(row)
        return RunningCost(
            transaction_id=row.id,
            at=row.stop_time,
            ended=True,
            energy_wh=int(row.energy_wh or 0),
            duration_seconds=energy.duration_seconds(row.start_time, row.stop_time),
            parking_seconds=int(row.parking_seconds or 0),
            currency=row.currency,
            cost_excl_vat=number(excl) or 0,
            cost_incl_vat=number(incl),
        )
    until = max(datetime.now(UTC), row.start_time)
    parked = await charging_states.parking_of(ctx.session, [(row.id, row.start_time, until)])
    used, seconds = live_energy_wh(row) or 0, energy.duration_seconds(row.start_time, until)
    so_far = energy.cost(
        used,
        Decimal(row.price_per_kwh),
        Decimal(row.session_fee),
        per_minute_fee=Decimal(row.per_minute_fee),
        seconds=seconds,
        parking_per_minute_fee=Decimal(row.parking_per_minute_fee),
        parking_seconds=parked[row.id],
        vat=None if row.vat is None else Decimal(row.vat),
    )
    return RunningCost(
        transaction_id=row.id,
        at=until,
        ended=False,
        energy_wh=used,
        duration_seconds=seconds,
        parking_seconds=parked[row.id],
        currency=row.currency,
        cost_excl_vat=number(so_far.excl_vat) or 0,
        cost_incl_vat=number(so_far.incl_vat),
    )


@router.rpc(SessionsRpc.close_stale_transaction, callers={"command-api"})
async def close_stale_transaction(params: CloseStaleTransaction, ctx: Ctx) -> TransactionDetail:
    """An operator closes a transaction its CP never stopped, with an audited reason."""
    # Only stale or superseded transactions, unless `force` is true. The meter reading is the
    # newest register value received (else meterStart), the stop time that reading's time (else
    # the last sign of life). A StopTransaction the CP sends later still replaces these figures.
    transaction_id = _transaction_id(params)
    reason, operator, force = params.reason, params.operator, params.force
    # The final reading an admin read off the meter, if given (command-api checks the role).
    given = params.meter_stop
    row = await load_for_update(ctx.session, transaction_id)
    if row is None:
        raise RpcError("not_found", f"transaction {transaction_id} does not exist")
    if row.stop_time is not None:
        raise RpcError("invalid", f"transaction {transaction_id} is already stopped")
    if row.stale_since is None and row.superseded_by is None and not force:
        raise RpcError(
            "invalid", f"transaction {transaction_id} is neither stale nor superseded (force?)"
        )
    if given is not None:
        if given < row.meter_start:
            raise RpcError(
                "invalid",
                f"meterStop {given} is below the transaction's meterStart {row.meter_start}",
            )
        meter_stop, basis = given, "given by the operator"
    elif row.last_meter_wh is not None and row.last_meter_wh >= row.meter_start:
        meter_stop, basis = int(row.last_meter_wh), "newest register reading"
    else:
        meter_stop, basis = int(row.meter_start), "no register reading: meterStart"
    stop_time = max(row.last_meter_at or row.last_seen_at, row.start_time)
    updated = await apply_stop(
        ctx.session,
        row,
        meter_stop=meter_stop,
        stop_time=stop_time,
        reason="Other",
        stop_id_tag=None,
        stopped_by=OPERATOR,
        close_reason=reason,
    )
    await audit(
        ctx.session,
        transaction_id,
        "closed_by_operator",
        actor=operator,
        reason=reason,
        details={"meterStop": meter_stop, "basis": basis, "force": force},
    )
    await ctx.emit(transaction_of(updated, TransactionStopped, at=updated.stop_time))
    return await _with_details(ctx.session, updated, limit=1000, offset=0)


@router.rpc(SessionsRpc.list_unmatched_stops, callers={"command-api"})
async def list_unmatched_stops(params: ListUnmatchedStops, ctx: Ctx) -> Page[UnmatchedStop]:
    """StopTransactions kept for review, newest first; filters chargePointId and kind."""
    limit, offset = params.limit, params.offset
    u = unmatched_stops.c
    where: list[Any] = []
    if (cp_id := params.charge_point_id) is not None:
        where.append(u.charge_point_id == cp_id)
    if (kind := params.kind) is not None:
        where.append(u.kind == kind)
    total = await ctx.session.scalar(
        select(func.count()).select_from(unmatched_stops).where(*where)
    )
    rows = await ctx.session.execute(
        select(unmatched_stops)
        .where(*where)
        .order_by(u.received_at.desc(), u.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return Page[UnmatchedStop](
        items=[unmatched_stop_of(row) for row in rows],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )

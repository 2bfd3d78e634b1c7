"""RPC reads beside transactions: the energy report, meter values, reservations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Row, func, literal_column, select

from csms_shared.contracts.resources import EnergyReport as Report
from csms_shared.contracts.resources import (
    EnergyRow,
    EnergyTariffTotal,
    EnergyTotal,
    MeterValue,
    Page,
    Reservation,
)
from csms_shared.contracts.rpc import EnergyReport as EnergyReportParams
from csms_shared.contracts.rpc import ListMeterValues, ListReservations, SessionsRpc
from csms_shared.ocpp._base import utcnow

from . import reservations
from .checks import INT32, fits
from .db import meter_values, tariffs, transactions
from .resources import meter_value_of, number, reservation_of
from .router import Ctx, router

tx = transactions.c
REPORT_DAYS = 31


def _kwh(wh: Decimal | int | None) -> float:
    return float((Decimal(wh or 0) / 1000).quantize(Decimal("0.001")))


def _sums() -> list[Any]:
    return [
        func.count().label("transactions"),
        func.coalesce(func.sum(tx.energy_wh), 0).label("energy_wh"),
        func.coalesce(func.sum(tx.cost), 0).label("cost"),
        # Stops from before migration 0013 kept only `cost`, which had no VAT on it.
        func.coalesce(func.sum(func.coalesce(tx.cost_excl_vat, tx.cost)), 0).label("excl_vat"),
    ]


F = TypeVar("F", bound=EnergyTotal)


def _figures(row: Row[Any], model: type[F], **extra: Any) -> F:
    """A row of sums as `model`: a total, a row of a CP's day, a tariff's total."""
    return model(
        currency=row.currency,
        transactions=row.transactions,
        energy_wh=int(row.energy_wh),
        energy_kwh=_kwh(row.energy_wh),
        cost=number(row.cost),
        cost_excl_vat=number(row.excl_vat),
        **extra,
    )


@router.rpc(SessionsRpc.energy_report, callers={"command-api"})
async def energy_report(params: EnergyReportParams, ctx: Ctx) -> Report:
    """kWh and cost per CP, per UTC day of the stop and per tariff, for transactions stopped in
    [from, to); totals per currency and per tariff."""
    # `to` defaults to now and `from` to 31 days before it; chargePointId narrows to one CP.
    limit, offset = params.limit, params.offset
    end = params.to or utcnow()
    start = params.from_ or end - timedelta(days=REPORT_DAYS)
    where: list[Any] = [tx.stop_time.is_not(None), tx.stop_time >= start, tx.stop_time < end]
    if (cp_id := params.charge_point_id) is not None:
        where.append(tx.charge_point_id == cp_id)
    day = func.date(func.timezone("UTC", tx.stop_time)).label("day")
    priced = transactions.outerjoin(tariffs, tariffs.c.id == tx.tariff_id)
    tariff = (tx.tariff_id, tariffs.c.name.label("tariff_name"))
    grouped = (
        select(tx.charge_point_id, day, *tariff, tx.currency, *_sums())
        .select_from(priced)
        .where(*where)
        .group_by(tx.charge_point_id, literal_column("day"), tx.tariff_id, tariffs.c.name)
        .group_by(tx.currency)
    )
    total = await ctx.session.scalar(select(func.count()).select_from(grouped.subquery()))
    rows = await ctx.session.execute(
        grouped.order_by(
            literal_column("day"), tx.charge_point_id, tx.tariff_id.nulls_first(), tx.currency
        )
        .limit(limit)
        .offset(offset)
    )
    totals = await ctx.session.execute(
        select(tx.currency, *_sums()).where(*where).group_by(tx.currency).order_by(tx.currency)
    )
    by_tariff = await ctx.session.execute(
        select(*tariff, tx.currency, *_sums())
        .select_from(priced)
        .where(*where)
        .group_by(tx.tariff_id, tariffs.c.name, tx.currency)
        .order_by(tx.tariff_id.nulls_first(), tx.currency)
    )
    return Report(
        from_=start,
        to=end,
        items=[
            _figures(
                row,
                EnergyRow,
                charge_point_id=row.charge_point_id,
                day=row.day,
                tariff_id=row.tariff_id,
                tariff_name=row.tariff_name,
            )
            for row in rows
        ],
        totals=[_figures(row, EnergyTotal) for row in totals],
        by_tariff=[
            _figures(row, EnergyTariffTotal, tariff_id=row.tariff_id, tariff_name=row.tariff_name)
            for row in by_tariff
        ],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


@router.rpc(SessionsRpc.list_meter_values, callers={"command-api"})
async def list_meter_values(params: ListMeterValues, ctx: Ctx) -> Page[MeterValue]:
    """Sampled values in time order, of a transaction or of a CP (and connector), from/to."""
    limit, offset = params.limit, params.offset
    start, end = params.from_, params.to
    m = meter_values.c
    where: list[Any] = []
    transaction_id, cp_id = params.transaction_id, params.charge_point_id
    if transaction_id is not None:
        where.append(m.transaction_id == (transaction_id if fits(transaction_id, INT32) else -1))
    if cp_id is not None:
        where.append(m.charge_point_id == cp_id)
    if (connector_id := params.connector_id) is not None:
        where.append(m.connector_id == (connector_id if fits(connector_id, INT32) else -1))
    if start is not None:
        where.append(m.timestamp >= start)
    if end is not None:
        where.append(m.timestamp < end)
    total = await ctx.session.scalar(select(func.count()).select_from(meter_values).where(*where))
    rows = await ctx.session.execute(
        select(meter_values).where(*where).order_by(m.timestamp, m.id).limit(limit).offset(offset)
    )
    return Page[MeterValue](
        items=[meter_value_of(row) for row in rows],
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


@router.rpc(SessionsRpc.list_reservations, callers={"command-api"})
async def list_reservations(params: ListReservations, ctx: Ctx) -> Page[Reservation]:
    """A page of reservations, newest first; filters chargePointId, status, active."""
    limit, offset = params.limit, params.offset
    rows, total = await reservations.page(
        ctx.session,
        cp_id=params.charge_point_id,
        status=params.status,
        active=params.active,
        limit=limit,
        offset=offset,
        now=utcnow(),
    )
    return Page[Reservation](
        items=[reservation_of(row) for row in rows], total=total, limit=limit, offset=offset
    )

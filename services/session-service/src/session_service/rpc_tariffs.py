"""RPC methods on tariffs: create, read, list, update, delete, and the one a CP is priced by."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.rpc import RpcError
from csms_shared.contracts.resources import AppliedTariff, Page, Tariff
from csms_shared.contracts.rpc import (
    CreateTariff,
    ListTariffs,
    OfTariff,
    SessionsRpc,
    TariffDeleted,
    TariffOfChargePoint,
    UpdateTariff,
)
from csms_shared.contracts.session_events import TariffChanged
from csms_shared.ocpp._base import utcnow

from .db import tariff_assignments, tariffs, transactions
from .resources import number, tariff_of
from .router import Ctx, router
from .tariffs import CHARGE_POINT, TAG, prices

t = tariffs.c
a = tariff_assignments.c
_ASSIGNED = ("charge_point_ids", "tags")


async def _assignments(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: {CHARGE_POINT: [], TAG: []})
    rows = await session.execute(
        select(a.tariff_id, a.target_kind, a.target)
        .where(a.tariff_id.in_(ids))
        .order_by(a.tariff_id, a.target_kind, a.target)
    )
    for row in rows:
        found[row.tariff_id][row.target_kind].append(row.target)
    return found


async def _tariffs(session: AsyncSession, rows: list[Row[Any]]) -> list[Tariff]:
    assigned = await _assignments(session, [row.id for row in rows])
    return [tariff_of(row, assigned[row.id][CHARGE_POINT], assigned[row.id][TAG]) for row in rows]


async def _tariff(session: AsyncSession, tariff_id: int) -> Tariff:
    row = (await session.execute(select(tariffs).where(t.id == tariff_id))).first()
    if row is None:
        raise RpcError("not_found", f"tariff {tariff_id} does not exist")
    [found] = await _tariffs(session, [row])
    return found


async def _assign(session: AsyncSession, tariff_id: int, fields: Any) -> None:
    """Replace whom the tariff prices, for each list the request carries."""
    for name, kind in zip(_ASSIGNED, (CHARGE_POINT, TAG), strict=True):
        targets = getattr(fields, name)
        if name not in fields.model_fields_set or targets is None:
            continue
        await session.execute(
            delete(tariff_assignments).where(a.tariff_id == tariff_id, a.target_kind == kind)
        )
        if targets:
            await session.execute(
                insert(tariff_assignments)
                .values(
                    [
                        {"tariff_id": tariff_id, "target_kind": kind, "target": target}
                        for target in sorted(set(targets))
                    ]
                )
                .on_conflict_do_nothing()
            )


async def _other_default(
    session: AsyncSession, tariff_id: int | None, fields: CreateTariff | UpdateTariff
) -> str:
    """Name the default tariff whose validity the tariff's (as it would be) overlaps."""
    sent = fields.model_fields_set
    stored = (
        None
        if tariff_id is None
        else (
            await session.execute(select(t.valid_from, t.valid_to).where(t.id == tariff_id))
        ).first()
    )
    lo = fields.valid_from if stored is None or "valid_from" in sent else stored.valid_from
    hi = fields.valid_to if stored is None or "valid_to" in sent else stored.valid_to
    window = func.tstzrange(t.valid_from, t.valid_to, "[)")
    where = [t.is_default, window.op("&&")(func.tstzrange(lo, hi, "[)"))]
    if tariff_id is not None:
        where.append(t.id != tariff_id)
    other = (
        await session.execute(select(t.id, t.name).where(*where).order_by(t.id).limit(1))
    ).first()
    if other is None:
        return "another default tariff is valid then"
    return f"default tariff {other.id} ({other.name!r}) is valid then"


async def _refused(
    session: AsyncSession,
    exc: IntegrityError,
    tariff_id: int | None,
    fields: CreateTariff | UpdateTariff,
) -> RpcError:
    if "tariffs_name_key" in str(exc.orig):
        return RpcError("conflict", f"a tariff named {fields.name!r} exists")
    if "ck_tariffs_valid" in str(exc.orig):
        return RpcError("invalid", "validTo: must be after validFrom")
    if "ck_tariffs_vat" in str(exc.orig):
        return RpcError("invalid", "vat: must be from 0 to 100 (percent)")
    if "ex_tariffs_one_default" in str(exc.orig):
        other = await _other_default(session, tariff_id, fields)
        return RpcError(
            "conflict",
            f"one default tariff at a time: {other}; to change the default price, end the "
            "one default with validTo where the next begins",
        )
    raise exc


@router.rpc(SessionsRpc.create_tariff, callers={"command-api"})
async def create_tariff(fields: CreateTariff, ctx: Ctx) -> Tariff:
    """Add a tariff, and whom it prices."""
    values = fields.model_dump(exclude=set(_ASSIGNED))
    try:
        async with ctx.session.begin_nested():
            row = (
                await ctx.session.execute(insert(tariffs).values(**values).returning(tariffs))
            ).one()
    except IntegrityError as exc:
        raise await _refused(ctx.session, exc, None, fields) from None
    await _assign(ctx.session, row.id, fields)
    created = await _tariff(ctx.session, row.id)
    await ctx.emit(TariffChanged(tariff_id=row.id, change="created", tariff=created))
    return created


@router.rpc(SessionsRpc.get_tariff, callers={"command-api"})
async def get_tariff(params: OfTariff, ctx: Ctx) -> Tariff:
    """One tariff and whom it prices."""
    return await _tariff(ctx.session, params.tariff_id)


@router.rpc(SessionsRpc.list_tariffs, callers={"command-api"})
async def list_tariffs(params: ListTariffs, ctx: Ctx) -> Page[Tariff]:
    """A page of tariffs, newest first; those naming a CP or a tag, or in force at a time."""
    where: list[Any] = []
    for kind, target in ((CHARGE_POINT, params.charge_point_id), (TAG, params.tag)):
        if target is not None:
            where.append(
                exists().where(a.tariff_id == t.id, a.target_kind == kind, a.target == target)
            )
    if (at := params.in_force_at) is not None:
        where += [
            (t.valid_from.is_(None)) | (t.valid_from <= at),
            (t.valid_to.is_(None)) | (t.valid_to > at),
        ]
    total = await ctx.session.scalar(select(func.count()).select_from(tariffs).where(*where))
    rows = (
        await ctx.session.execute(
            select(tariffs)
            .where(*where)
            .order_by(t.id.desc())
            .limit(params.limit)
            .offset(params.offset)
        )
    ).all()
    return Page[Tariff](
        items=await _tariffs(ctx.session, list(rows)),
        total=int(total or 0),
        limit=params.limit,
        offset=params.offset,
    )


@router.rpc(SessionsRpc.update_tariff, callers={"command-api"})
async def update_tariff(fields: UpdateTariff, ctx: Ctx) -> Tariff:
    """Change a tariff's prices (its parking fee among them), VAT rate, validity, default flag
    or whom it prices; transactions already started keep their prices and rate."""
    tariff_id = fields.tariff_id
    changed = fields.model_dump(include=fields.model_fields_set - {"tariff_id", *_ASSIGNED})
    try:
        async with ctx.session.begin_nested():
            row = (
                await ctx.session.execute(
                    update(tariffs)
                    .where(t.id == tariff_id)
                    .values(**changed, updated_at=func.now())
                    .returning(t.id)
                )
            ).first()
    except IntegrityError as exc:
        raise await _refused(ctx.session, exc, tariff_id, fields) from None
    if row is None:
        raise RpcError("not_found", f"tariff {tariff_id} does not exist")
    await _assign(ctx.session, tariff_id, fields)
    updated = await _tariff(ctx.session, tariff_id)
    await ctx.emit(TariffChanged(tariff_id=tariff_id, change="updated", tariff=updated))
    return updated


@router.rpc(SessionsRpc.delete_tariff, callers={"command-api"})
async def delete_tariff(params: OfTariff, ctx: Ctx) -> TariffDeleted:
    """Remove a tariff no transaction started under (else end it with validTo)."""
    tariff_id = params.tariff_id
    used = await ctx.session.scalar(select(exists().where(transactions.c.tariff_id == tariff_id)))
    if used:
        raise RpcError(
            "conflict",
            f"tariff {tariff_id} priced transactions, which keep naming it; "
            "set its validTo to end it instead",
        )
    try:
        async with ctx.session.begin_nested():
            row = (
                await ctx.session.execute(delete(tariffs).where(t.id == tariff_id).returning(t.id))
            ).first()
    except IntegrityError:
        # A transaction started under it since we looked.
        raise RpcError(
            "conflict", f"tariff {tariff_id} priced a transaction; set its validTo instead"
        ) from None
    if row is None:
        raise RpcError("not_found", f"tariff {tariff_id} does not exist")
    await ctx.emit(TariffChanged(tariff_id=tariff_id, change="deleted"))
    return TariffDeleted(tariff_id=tariff_id, deleted=True)


@router.rpc(SessionsRpc.tariff_of_charge_point, callers={"command-api"})
async def tariff_of_charge_point(params: TariffOfChargePoint, ctx: Ctx) -> AppliedTariff:
    """What would price a transaction the CP starts at `at` (default now), and why."""
    at: datetime = params.at or utcnow()
    [price] = await prices(ctx.session, ctx.settings, [(params.charge_point_id, at)])
    tariff = None if price.tariff_id is None else await _tariff(ctx.session, price.tariff_id)
    return AppliedTariff(
        charge_point_id=params.charge_point_id,
        at=at,
        source=price.source,
        tag=price.tag,
        tariff=tariff,
        price_per_kwh=number(price.price_per_kwh),
        session_fee=number(price.session_fee),
        per_minute_fee=number(price.per_minute_fee),
        parking_per_minute_fee=number(price.parking_per_minute_fee),
        currency=price.currency,
        vat=number(price.vat),
    )

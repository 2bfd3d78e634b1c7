"""A tariff's VAT rate against the real Postgres: kept, announced and cleared through the RPC
methods; copied by a start from one snapshot of the tariff; billed at the stop, excl. VAT kept
beside what the driver pays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from csms_shared.bus.router import Context
from csms_shared.contracts.resources import Transaction
from csms_shared.contracts.rpc import CreateTariff, UpdateTariff
from csms_shared.ocpp.version import OcppVersion
from session_service import rpc_tariffs
from session_service.db import outbox, tariff_assignments, tariffs, transactions
from session_service.resources import transaction_of
from session_service.settings import Settings
from session_service.tariffs import prices
from session_service.transactions import StartRow, apply_stops, insert_starts, stop_values

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _name(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}"


async def _run(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, handler: Any, params: Any
) -> Any:
    """An RPC handler as the runtime runs it: one transaction, its events in the outbox."""
    async with sessions() as session, session.begin():
        return await handler(params, Context(session, settings, outbox=outbox))


async def _announced(sessions: async_sessionmaker[AsyncSession], tariff_id: int) -> list[Any]:
    """The `tariff` of each tariff.changed of the tariff in the outbox, oldest first."""
    async with sessions() as session:
        bodies = await session.scalars(
            select(outbox.c.body)
            .where(outbox.c.routing_key == "tariff.changed")
            .order_by(outbox.c.id)
        )
        events = [orjson.loads(body) for body in bodies]
    return [e.get("tariff") for e in events if e["tariffId"] == tariff_id]


async def test_a_tariffs_vat_rate_is_kept_announced_changed_and_cleared(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    fields = {"name": _name("vat"), "price_per_kwh": "0.30", "currency": "EUR", "vat": "19"}
    created = await _run(sessions, settings, rpc_tariffs.create_tariff, CreateTariff(**fields))
    assert (created.vat, created.price_per_kwh) == (19, 0.3)
    tariff_id = created.tariff_id
    changed = await _run(
        sessions,
        settings,
        rpc_tariffs.update_tariff,
        UpdateTariff(tariff_id=tariff_id, vat=Decimal("7.7")),
    )
    assert changed.vat == 7.7
    # Sent as null, the rate is cleared: the prices carry no VAT information again.
    cleared = await _run(
        sessions, settings, rpc_tariffs.update_tariff, UpdateTariff(tariff_id=tariff_id, vat=None)
    )
    assert cleared.vat is None
    # Left out of a change, the rate stays.
    renamed = await _run(
        sessions,
        settings,
        rpc_tariffs.update_tariff,
        UpdateTariff(tariff_id=tariff_id, name=_name("renamed")),
    )
    assert renamed.vat is None
    # Each change is announced with the tariff as the API shows it (the roaming service
    # publishes the rate in its OCPI Tariff).
    announced = await _announced(sessions, tariff_id)
    assert [t["vat"] for t in announced] == [19, 7.7, None, None]


@pytest.mark.parametrize(
    ("vat", "error"),
    [
        ("100.01", "less than or equal to 100"),
        ("-0.5", "greater than or equal to 0"),
        ("19.125", "no more than 2 decimal places"),
        ("many", "valid decimal"),
    ],
)
def test_a_vat_rate_out_of_range_is_refused_naming_it(vat: str, error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CreateTariff(name="x", price_per_kwh=Decimal(1), currency="EUR", vat=vat)
    [problem] = refused.value.errors()
    assert problem["loc"] == ("vat",) and error in problem["msg"]


async def test_the_database_refuses_a_rate_beyond_100_percent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = {"name": _name("db"), "price_per_kwh": 1, "currency": "EUR", "vat": 100.01}
    async with sessions() as session, session.begin():
        with pytest.raises(IntegrityError, match="ck_tariffs_vat"):
            async with session.begin_nested():
                await session.execute(insert(tariffs).values(row))


def _start(cp: str, price: Any) -> StartRow:
    """A 1.6 start's row with the prices `tariffs.prices` found (as action_start builds it)."""
    return StartRow(
        charge_point_id=cp,
        connector_id=1,
        evse_connector_id=1,
        id_tag="VAT-TAG",
        id_token_type="ISO14443",
        id_tag_status="Accepted",
        meter_start=1000,
        start_time=T0,
        reservation_id=None,
        charging_priority=0,
        tariff_id=price.tariff_id,
        price_per_kwh=price.price_per_kwh,
        session_fee=price.session_fee,
        per_minute_fee=price.per_minute_fee,
        parking_per_minute_fee=price.parking_per_minute_fee,
        currency=price.currency,
        last_seen_at=T0,
        ocpp_version=OcppVersion.V16.value,
        id_token_source="list",
        roaming_party=None,
        warnings=[],
    )


async def _assigned_tariff(session: AsyncSession, cp: str, **values: Any) -> int:
    tariff_id: int = (
        await session.execute(
            insert(tariffs)
            .values(name=_name("cp"), currency="EUR", **values)
            .returning(tariffs.c.id)
        )
    ).scalar_one()
    await session.execute(
        insert(tariff_assignments).values(
            tariff_id=tariff_id, target_kind="charge_point", target=cp
        )
    )
    return tariff_id


async def test_a_start_copies_the_tariffs_prices_and_rate_from_one_snapshot(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp = _name("CP")
    async with sessions() as session, session.begin():
        tariff_id = await _assigned_tariff(
            session, cp, price_per_kwh=Decimal("0.30"), session_fee=1, vat=19
        )
    async with sessions() as session, session.begin():
        [price] = await prices(session, settings, [(cp, T0)])
        assert (price.tariff_id, price.price_per_kwh, price.vat) == (tariff_id, Decimal("0.30"), 19)
        # The tariff changes (another transaction commits) between the choice and the INSERT.
        async with sessions() as other, other.begin():
            await other.execute(
                update(tariffs)
                .where(tariffs.c.id == tariff_id)
                .values(price_per_kwh=Decimal("0.40"), vat=Decimal("7.7"))
            )
        [(row, new)] = await insert_starts(session, [_start(cp, price)])
    assert new
    # All of the tariff as the INSERT read it: never old prices with a new rate.
    assert (row.tariff_id, row.price_per_kwh, row.session_fee, row.vat) == (
        tariff_id,
        Decimal("0.40"),
        1,
        Decimal("7.7"),
    )


async def test_the_environments_prices_state_no_vat(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cp = _name("CP")
    async with sessions() as session, session.begin():
        [price] = await prices(session, settings, [(cp, T0)])
        [(row, _)] = await insert_starts(session, [_start(cp, price)])
    assert (price.source, price.vat) == ("environment", None)
    assert (row.tariff_id, row.price_per_kwh, row.vat) == (
        None,
        settings.tariff_price_per_kwh,
        None,
    )


async def _stopped(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, **tariff: Any
) -> Transaction:
    """A transaction started under a tariff of its CP and stopped after 10 kWh and 10 minutes."""
    cp = _name("CP")
    async with sessions() as session, session.begin():
        await _assigned_tariff(session, cp, **tariff)
        [price] = await prices(session, settings, [(cp, T0)])
        [(row, _)] = await insert_starts(session, [_start(cp, price)])
        stop = stop_values(
            row,
            meter_stop=11_000,
            stop_time=T0 + timedelta(minutes=10),
            reason=None,
            stop_id_tag=None,
            stopped_by="ChargePoint",
        )
        updated = (await apply_stops(session, [stop]))[row.id]
    return transaction_of(updated, Transaction)


async def test_a_stop_bills_vat_on_the_net_total_and_keeps_both(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # 1 + 10 kWh x 0.30 + 10 min x 0.10 = 5.00 net; 19 % VAT: 5.95.
    priced = await _stopped(
        sessions,
        settings,
        price_per_kwh=Decimal("0.30"),
        session_fee=1,
        per_minute_fee=Decimal("0.10"),
        vat=19,
    )
    assert (priced.cost_excl_vat, priced.cost_incl_vat, priced.vat) == (5, 5.95, 19)
    # `cost` is what the driver pays, the totalCost a 2.0.1 station is told.
    assert priced.cost == 5.95
    wire = priced.model_dump(mode="json", by_alias=True)
    assert (wire["costExclVat"], wire["costInclVat"], wire["vat"]) == (5, 5.95, 19)


async def test_without_a_rate_a_stop_costs_what_it_did_before(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    plain = await _stopped(
        sessions, settings, price_per_kwh=Decimal("0.30"), session_fee=1, per_minute_fee=0
    )
    assert (plain.cost, plain.cost_excl_vat, plain.cost_incl_vat, plain.vat) == (4, 4, None, None)
    wire = plain.model_dump(mode="json", by_alias=True)
    assert "costInclVat" not in wire and "vat" not in wire


async def test_a_transaction_stopped_before_vat_existed_reads_its_cost_as_excl_vat(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # A stop written before migration 0013 has `cost` alone.
    cp = _name("CP")
    async with sessions() as session, session.begin():
        [price] = await prices(session, settings, [(cp, T0)])
        [(row, _)] = await insert_starts(session, [_start(cp, price)])
        old = (
            await session.execute(
                update(transactions)
                .where(transactions.c.id == row.id)
                .values(stop_time=T0 + timedelta(hours=1), meter_stop=2000, cost=Decimal("3.21"))
                .returning(*transactions.c)
            )
        ).one()
        await session.execute(delete(transactions).where(transactions.c.id == row.id))
    shown = transaction_of(old, Transaction)
    assert (shown.cost, shown.cost_excl_vat, shown.cost_incl_vat) == (3.21, 3.21, None)

"""The session-service's migrations: the schema they make is the one db.py describes, and 0013
(a tariff's VAT rate) and 0015 (parking time) leave what was priced before them as it was, and
go back down, as 0019 (HOT meter updates) does."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from csms_shared.contracts.resources import Transaction
from csms_shared.db import alembic_config, create_engine, upgrade
from session_service.app import MIGRATIONS
from session_service.db import FILLFACTOR, SCHEMA, metadata, transactions
from session_service.resources import transaction_of
from session_service.settings import Settings
from tests.integration.infra import base_urls, isolated_database
from tests.integration.schema_check import schema_differences

# The months of meter values are partitions the service creates (meter_partitions.py).
_PARTITION = re.compile(r"meter_values_\d{6}")


async def test_the_migrated_schema_is_the_one_db_py_describes(settings: Settings) -> None:
    found = await schema_differences(
        settings.database_url,
        metadata,
        SCHEMA,
        ignored=lambda name: _PARTITION.fullmatch(name) is not None,
    )
    assert found == []


def _columns(connection: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns(table, schema=SCHEMA)}


async def test_0013_adds_vat_leaving_earlier_prices_and_costs_without_it() -> None:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            await asyncio.to_thread(upgrade, MIGRATIONS, url, "0012")
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        text(
                            "INSERT INTO sessions.tariffs (name, price_per_kwh, currency)"
                            " VALUES ('before', 0.3, 'EUR')"
                        )
                    )
                    await connection.execute(
                        text(
                            "INSERT INTO sessions.transactions (charge_point_id, connector_id,"
                            " id_tag, meter_start, start_time, tariff_id, price_per_kwh,"
                            " session_fee, currency, last_seen_at, ocpp_version, meter_stop,"
                            " stop_time, energy_wh, cost)"
                            " VALUES ('CP-OLD', 1, 'TAG', 0, :at, 1, 0.3, 0, 'EUR', :at, '1.6',"
                            " 10000, :at, 10000, 3)"
                        ),
                        {"at": at},
                    )
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
                async with engine.connect() as connection:
                    vat = (await connection.execute(text("SELECT vat FROM sessions.tariffs"))).one()
                    row = (await connection.execute(transactions.select())).one()
                    # A rate above 100 % is refused by the table too.
                    constraint = await connection.execute(
                        text("SELECT count(*) FROM pg_constraint WHERE conname = 'ck_tariffs_vat'")
                    )
                    assert constraint.scalar_one() == 1
                config = alembic_config(MIGRATIONS, url)
                await asyncio.to_thread(command.downgrade, config, "0012")
                async with engine.connect() as connection:
                    tariff_columns = await connection.run_sync(_columns, "tariffs")
                    transaction_columns = await connection.run_sync(_columns, "transactions")
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
            finally:
                await engine.dispose()
    assert vat == (None,)
    assert (row.vat, row.cost_excl_vat, row.cost) == (None, None, Decimal(3))
    shown = transaction_of(row, Transaction)
    assert (shown.cost, shown.cost_excl_vat, shown.cost_incl_vat, shown.vat) == (3, 3, None, None)
    assert "vat" not in tariff_columns
    assert not {"vat", "cost_excl_vat"} & transaction_columns


async def test_0015_adds_parking_charging_nothing_for_what_came_before() -> None:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            await asyncio.to_thread(upgrade, MIGRATIONS, url, "0014")
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        text(
                            "INSERT INTO sessions.tariffs (name, price_per_kwh, currency)"
                            " VALUES ('before', 0.3, 'EUR')"
                        )
                    )
                    await connection.execute(
                        text(
                            "INSERT INTO sessions.transactions (charge_point_id, connector_id,"
                            " id_tag, meter_start, start_time, tariff_id, price_per_kwh,"
                            " session_fee, currency, last_seen_at, ocpp_version, meter_stop,"
                            " stop_time, energy_wh, cost)"
                            " VALUES ('CP-OLD', 1, 'TAG', 0, :at, 1, 0.3, 0, 'EUR', :at, '1.6',"
                            " 10000, :at, 10000, 3)"
                        ),
                        {"at": at},
                    )
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
                async with engine.connect() as connection:
                    fee = (
                        await connection.execute(
                            text("SELECT parking_per_minute_fee FROM sessions.tariffs")
                        )
                    ).scalar_one()
                    row = (await connection.execute(transactions.select())).one()
                    states = await connection.run_sync(_columns, "charging_states")
                config = alembic_config(MIGRATIONS, url)
                await asyncio.to_thread(command.downgrade, config, "0014")
                async with engine.connect() as connection:
                    tariff_columns = await connection.run_sync(_columns, "tariffs")
                    transaction_columns = await connection.run_sync(_columns, "transactions")
                    tables = await connection.run_sync(
                        lambda sync: inspect(sync).get_table_names(schema=SCHEMA)
                    )
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
            finally:
                await engine.dispose()
    assert fee == 0
    assert (row.parking_per_minute_fee, row.parking_seconds, row.cost) == (0, None, Decimal(3))
    shown = transaction_of(row, Transaction)
    assert (shown.parking_seconds, shown.parking_per_minute_fee, shown.cost) == (None, 0, 3)
    assert states == {"transaction_id", "at", "state"}
    assert "parking_per_minute_fee" not in tariff_columns
    assert not {"parking_per_minute_fee", "parking_seconds"} & transaction_columns
    assert "charging_states" not in tables


async def test_0019_goes_down_to_the_index_and_back() -> None:
    storage = text(
        "SELECT c.reloptions, EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'sessions'"
        " AND indexname = 'ix_transactions_active_seen')"
        " FROM pg_class c WHERE c.oid = 'sessions.transactions'::regclass"
    )
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            engine = create_engine(url, pool_size=1)
            try:
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
                async with engine.connect() as connection:
                    after = tuple((await connection.execute(storage)).one())
                await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS, url), "0018")
                async with engine.connect() as connection:
                    before = tuple((await connection.execute(storage)).one())
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
            finally:
                await engine.dispose()
    assert after == ([f"fillfactor={FILLFACTOR}"], False)
    assert before == (None, True)

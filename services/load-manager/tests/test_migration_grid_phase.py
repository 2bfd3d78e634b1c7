"""Migration 0007 on a schema `loads` with single-phase nodes from before: each gets the grid
phase most single-phase stations under it are on, and hands it to what is under it."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select

from csms_shared.db import create_engine, upgrade
from load_manager.app import MIGRATIONS
from load_manager.db import nodes, stations
from tests.integration.infra import base_urls, isolated_database


def node(id_: int, parent: int | None, phases: int) -> dict[str, object]:
    return {
        "id": id_,
        "site_id": 1,
        "parent_id": parent,
        "name": f"n{id_}",
        "phases": phases,
        "limit_l1": 16,
        "limit_l2": 16 if phases == 3 else None,
        "limit_l3": 16 if phases == 3 else None,
    }


def station(cp: str, node_id: int, phases: int, grid_phase: int | None) -> dict[str, object]:
    return {
        "charge_point_id": cp,
        "node_id": node_id,
        "site_id": 1,
        "phases": phases,
        "grid_phase": grid_phase,
    }


async def test_single_phase_nodes_take_the_grid_phase_of_their_stations() -> None:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            await asyncio.to_thread(upgrade, MIGRATIONS, url, "0006")
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.begin() as connection:
                    # 1 (site) -> 2 (1-phase) -> 3 (1-phase); 1 -> 4 (1-phase, empty); 1 -> 5.
                    # Under 2: A and B on L3, C on L1, D three-phase; E on L2 under 5.
                    rows = [node(1, None, 3), node(2, 1, 1), node(3, 2, 1), node(4, 1, 1)]
                    await connection.execute(insert(nodes).values([*rows, node(5, 1, 3)]))
                    await connection.execute(
                        insert(stations).values(
                            [
                                station("A", 3, 1, 3),
                                station("B", 3, 1, 3),
                                station("C", 2, 1, 1),
                                station("D", 2, 3, None),
                                station("E", 5, 1, 2),
                            ]
                        )
                    )
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
                async with engine.connect() as connection:
                    fed = dict(
                        (await connection.execute(select(nodes.c.id, nodes.c.grid_phase))).all()
                    )
                    on = dict(
                        (
                            await connection.execute(
                                select(stations.c.charge_point_id, stations.c.grid_phase)
                            )
                        ).all()
                    )
            finally:
                await engine.dispose()
    assert fed == {1: None, 2: 3, 3: 3, 4: 1, 5: None}
    assert on == {"A": 3, "B": 3, "C": 3, "D": None, "E": 2}

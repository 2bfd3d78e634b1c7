"""Migration 0010 on a schema `loads` with a limit in W from before the bound: lowered to 10,000 A
per phase at its node's voltage and phases, so the site's rounds and samples work again."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from csms_shared.db import create_engine, upgrade
from load_manager.app import MIGRATIONS
from load_manager.db import nodes
from tests.integration.infra import base_urls, isolated_database


async def test_a_limit_in_watts_past_the_bound_is_lowered_to_it() -> None:
    with base_urls() as (_, database):
        async with isolated_database(database) as url:
            await asyncio.to_thread(upgrade, MIGRATIONS, url, "0009")
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.begin() as connection:
                    # id, limit in W, voltage, phases, grid phase
                    for id_, watts, voltage, phases, fed in (
                        (1, 10**9, 230, 3, None),
                        (2, 10**9, 120, 1, 1),
                        (3, 69_000, 230, 3, None),
                    ):
                        await connection.execute(
                            insert(nodes).values(
                                id=id_,
                                site_id=id_,
                                name=f"n{id_}",
                                limit_watts=watts,
                                voltage=voltage,
                                phases=phases,
                                grid_phase=fed,
                            )
                        )
                await asyncio.to_thread(upgrade, MIGRATIONS, url)
                async with engine.connect() as connection:
                    limits = dict(
                        (await connection.execute(select(nodes.c.id, nodes.c.limit_watts))).all()
                    )
                    # Past the bound is refused from now on.
                    with pytest.raises(IntegrityError, match="ck_nodes_limit_watts"):
                        await connection.execute(
                            text("UPDATE loads.nodes SET limit_watts = 7000000 WHERE id = 1")
                        )
            finally:
                await engine.dispose()
    assert limits == {1: 6_900_000, 2: 1_200_000, 3: 69_000}

"""The shortened `make failover-test`: the Postgres primary dies under a small charging fleet,
its standby is promoted, the services find it on their own.

Synchronous: nothing acknowledged is missing on the promoted standby, the suite recovers
without a restart and drains. Asynchronous, the same fault: acknowledged commits are missing,
those whose WAL the standby had not received (the link to it stalled before the kill). It runs
on a RabbitMQ node and two Postgres clusters of its own (chaos/pg_failover.py), since it kills
them; `make failover-test` runs the same with 300 CPs and a 10 s stall.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chaos.driver import Pace
from chaos.failover import Options, run
from chaos.failover_cli import table

pytestmark = pytest.mark.integration


async def test_a_synchronous_standby_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    options = Options(
        cps=30, pace=Pace(interval=1.0), command_rate=2.0, lag_seconds=3.0, log_dir=tmp_path
    )
    sync, unsynced = await run(options)
    text = table([sync, unsynced], options, datetime.now(UTC), 0.0)
    assert (sync.mode, unsynced.mode) == ("sync", "async"), text
    # The fleet charged on across the fail-over, against the promoted standby.
    assert sync.transactions > 0 and sync.meter_rows > 0 and sync.probe_acked > 0, text
    assert not sync.not_recovered, text
    assert not sync.probe_lost and not sync.probe_past_standby, text
    assert not sync.at_kill.total, f"{text}\n{sync.at_kill.problems}"
    assert not sync.final.total, f"{text}\n{sync.final.problems}"
    assert not sync.server_errors and not sync.left and not sync.stuck_cps, text
    assert not sync.dead, "\n".join([text, *sync.dead])
    # Asynchronous: the primary acknowledged commits the standby never received.
    assert unsynced.wal_behind > 0, text
    assert unsynced.probe_lost > 0, text
    assert not unsynced.not_recovered, text

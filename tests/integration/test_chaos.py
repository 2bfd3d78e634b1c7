"""The shortened `make chaos`: one fault of each kind into a small busy fleet, nothing lost.

It runs on a RabbitMQ node and a Postgres cluster of its own (chaos/servers.py), since it
stops them; `make chaos` runs the same with 1,000 CPs and a 30 s stall.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.driver import Pace
from chaos.faults import FAULTS
from chaos.run import Options, run, table

pytestmark = pytest.mark.integration


async def test_one_fault_of_each_kind_loses_nothing(tmp_path: Path) -> None:
    report = await run(
        Options(
            cps=30,
            pace=Pace(interval=1.0),
            command_rate=2.0,
            stall_seconds=5.0,
            outage_seconds=2.0,
            log_dir=tmp_path,
        )
    )
    text = table(report)
    assert [row.fault for row in report.rows] == list(FAULTS), text
    # The fleet charged through every fault: sessions ended after each one (wait_recovered).
    assert all(not row.not_recovered for row in report.rows), text
    assert report.transactions > 0 and report.meter_rows > 0, text
    assert not report.final.total, f"{text}\n{report.final.problems}"
    assert all(not row.lost.total for row in report.rows), text
    assert all(not row.server_errors for row in report.rows), text
    assert not report.left and not report.stuck_cps, text
    assert not report.dead, "\n".join([text, *report.dead])

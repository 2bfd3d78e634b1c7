"""The fail-over of a broker node, timed from the logs of the ones who did it.

The broker's nodes log each quorum queue's new leader (`... -> leader in term N`), and the
suite's processes log each broker connection lost and restored (csms_shared/bus/connection.py).
Timestamps from those logs, not from polling: `rabbitmqctl` and the management API take
seconds to answer on a loaded machine, and the management API waits out a node that just died.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .cluster import ClusterNode, RabbitCluster

NEW_LEADER = re.compile(
    r"^(?P<at>\S+ \S+) \[\w+\] <[^>]*> queue '(?P<queue>[^']+)' in vhost '[^']*':"
    r" \w+ -> leader in term"
)
CONNECTION = re.compile(
    r"^(?P<at>\S+) \w+\s+\S+ csms_shared\.bus\.connection: broker connection '(?P<name>[^']*)':"
    r" (?:node \S+ (?P<lost>lost)|(?P<restored>restored) on node)"
)


class LogTail:
    """A log file read from where it ended when the tail was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self._partial = ""

    def lines(self) -> list[str]:
        """Whole lines written since the last call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        text = self._partial + data.decode(errors="replace")
        *whole, self._partial = text.split("\n")
        return whole


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(slots=True)
class Failover:
    """New leaders and broker connections lost and restored since the tails were made."""

    broker_logs: list[Path]
    suite_logs: list[Path]
    leaders: dict[str, datetime] = field(default_factory=dict)
    lost: dict[tuple[str, str], datetime] = field(default_factory=dict)
    restored: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _tails: list[tuple[LogTail, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tails = [(LogTail(p), True) for p in self.broker_logs] + [
            (LogTail(p), False) for p in self.suite_logs
        ]

    def read(self) -> None:
        """Take in what the logs said since the last read."""
        for tail, broker in self._tails:
            for line in tail.lines():
                if broker:
                    if match := NEW_LEADER.match(line):
                        self.leaders.setdefault(match["queue"], _at(match["at"]))
                elif match := CONNECTION.match(line):
                    key = (tail.path.name, match["name"])
                    if match["lost"]:
                        self.lost.setdefault(key, _at(match["at"]))
                        self.restored.pop(key, None)
                    elif key in self.lost:
                        self.restored[key] = _at(match["at"])

    def done(self, queues: list[str]) -> bool:
        """Every queue in `queues` has a new leader and every connection lost is back."""
        return all(q in self.leaders for q in queues) and set(self.restored) >= set(self.lost)

    def seconds(self, since: datetime, queues: list[str]) -> tuple[float, float, int]:
        """(s from `since` to the last new leader of `queues`, the longest a suite connection
        was without a node: from its loss to its restoration, connections that were lost)."""
        leaders = [self.leaders[q] for q in queues if q in self.leaders]
        leaders_s = max(((t - since).total_seconds() for t in leaders), default=0.0)
        clients_s = max(
            ((at - self.lost[key]).total_seconds() for key, at in self.restored.items()),
            default=0.0,
        )
        return leaders_s, clients_s, len(self.lost)


def tails(cluster: RabbitCluster, node: ClusterNode, log_dir: Path) -> Failover:
    """Tails of the other nodes' logs and the suite's, from now on."""
    others = [n.log_file for n in cluster.nodes if n is not node]
    return Failover(others, sorted(log_dir.glob("*.log")))


async def wait_failover(
    failover: Failover,
    since: datetime,
    queues: list[str],
    breaking: asyncio.Task[Callable[[], None]],
    timeout: float,
    on_node: int,
) -> tuple[float, float, int]:
    """Wait until the fault is done, every queue in `queues` has a new leader and the suite's
    `on_node` connections to the node are restored elsewhere; (s to the last new leader, s to
    the last connection restored, connections lost), timed by the logs (chaos/failover.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.to_thread(failover.read)
        if breaking.done() and failover.done(queues) and len(failover.lost) >= on_node:
            break
        await asyncio.sleep(0.2)
    return failover.seconds(since, queues)

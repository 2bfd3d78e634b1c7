"""Why the gateway answers a CALL at once instead of sending it (or waiting for its answer):
nobody owns its routing key, its owner is too far behind, gone or without its database, or the
broker connection is down. `forwarding.py` turns each into the CALLERROR the CP gets."""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge

from csms_shared.bus.access import ROLES
from csms_shared.bus.owners import Owners, Verdict


class Unroutable(Exception):
    """The broker returned the message: nobody owns that routing key."""


class Overloaded(Exception):
    """The owner of a decision call's action is too far behind to answer it in time: the call
    is refused before it is sent (the CP retries it after `retry_after` seconds)."""

    def __init__(self, action: str, behind: float) -> None:
        super().__init__(f"{action}: the oldest call waits for {behind:.1f} s")
        self.action = action
        self.behind = behind

    @property
    def retry_after(self) -> int:
        """Whole seconds: about the time the backlog in front of the call takes to clear."""
        return max(1, math.ceil(self.behind))


class Ownerless(Exception):
    """No live process can take a decision call of this key now (bus/owners.py): its service
    is gone, or its database is down. Answered at once; the CP retries after `retry_after`."""

    def __init__(self, action: str, verdict: Verdict) -> None:
        super().__init__(f"{action}: {verdict.value}")
        self.action = action
        self.verdict = verdict

    @property
    def reason(self) -> str:
        """What the CP is told is wrong."""
        if self.verdict is Verdict.NOT_READY:
            return "its service cannot reach its database"
        return "no instance of its service is running"

    retry_after = 5  # seconds: about a restart, a fail-over or a beacon's lifetime


class BrokerAway(ConnectionError):
    """The broker connection is down: nothing can be published until it is back. A CALL that
    comes meanwhile, or was waiting when it went, is answered InternalError at once (the CP
    retries after `retry_after`) instead of hanging until the reconnect."""

    retry_after = 5  # seconds: aio-pika's reconnect interval to a single node


OWNER_PROCESSES = Gauge(
    "csms_gateway_owner_processes",
    "Processes consuming OCPP calls whose owner beacon this gateway holds, by their service"
    " (`owner`) and whether their database answers",
    ["owner", "state"],  # not `service`: Prometheus' target labels take that name
)


BEACONS_REFUSED = Counter(
    "csms_gateway_owner_beacons_refused_total",
    "Owner beacons ignored because the broker user that sent them is not the one of the service"
    " they name",
)


def count_owner_processes(owners: Owners) -> None:
    """Set the gauge of live and ready owner processes from the beacons held."""
    counts = owners.services()
    for service in ROLES:  # known names only: a label value no beacon can mint
        live, ready = counts.get(service, (0, 0))
        OWNER_PROCESSES.labels(service, "ready").set(ready)
        OWNER_PROCESSES.labels(service, "not_ready").set(live - ready)

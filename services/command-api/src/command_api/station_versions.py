"""The OCPP version each station's connection speaks, as this replica last heard it.

Every command is checked against its station's version. The registry knows it (its
`station_version` RPC), but asking it costs each command a broker round trip, an RPC in the
registry and a few milliseconds. A replica keeps what it learns instead:
- from `station.connected`, which every gateway publishes when a station connects, with the
  subprotocol it agreed on (bound to the replica's own exclusive queue, so every replica hears
  every connection); the newest connection wins;
- from the registry, once, for a station that connected before the replica started; an answer
  never overrides what an event said.

The version only changes when a station reconnects speaking the other one. In the moment
between that reconnection and its event reaching the replica, a command can still be checked
against the old version: the gateway refuses it (`rejected`, nothing reaches the station), the
entry is dropped, and the caller is told the station's version as if it had been read
(`command_sending.py`). What was heard while the broker connection was away is not known, so a
reconnection forgets everything.
"""

from __future__ import annotations

import logging
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError

from csms_shared.contracts.station_events import StationConnected
from csms_shared.ocpp.version import OcppVersion

log = logging.getLogger(__name__)

# The routing key this replica's queue is bound to.
CONNECTED = "station.connected"
# Stations remembered at most; past it the longest-known is forgotten (and read again when
# needed). An entry is some 200 bytes.
LIMIT = 100_000

READS = Counter(
    "csms_api_station_version_reads_total",
    "A command's station version: known to the replica (`kept`) or asked of the registry",
    ["source"],
)


class StationVersions:
    """Station id -> the version its newest connection speaks, and when it connected (None:
    learnt from the registry, older than any event)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._known: dict[str, tuple[OcppVersion, float | None]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def get(self, cp_id: str) -> OcppVersion | None:
        """The version kept for the station; None when this replica does not know it."""
        kept = self._known.get(cp_id)
        READS.labels("kept" if kept is not None else "registry").inc()
        return None if kept is None else kept[0]

    def heard(self, cp_id: str, version: OcppVersion, connected_at: float) -> None:
        """A station connected at `connected_at` (epoch seconds) speaking `version`; an event
        of an older connection, delivered late, changes nothing."""
        kept = self._known.get(cp_id)
        if kept is not None and kept[1] is not None and kept[1] > connected_at:
            return
        self._put(cp_id, (version, connected_at))

    def learnt(self, cp_id: str, version: OcppVersion) -> None:
        """What the registry answered, kept unless an event told this replica first."""
        if cp_id not in self._known:
            self._put(cp_id, (version, None))

    def forget(self, cp_id: str) -> None:
        """The gateway refused a command checked against the kept version."""
        self._known.pop(cp_id, None)

    def clear(self, *_: Any) -> None:
        """Forget everything (the broker connection was lost: events may have been missed)."""
        if self._known:
            log.info("forgetting %d stations' versions after a reconnection", len(self._known))
        self._known.clear()

    async def on_delivery(self, message: AbstractIncomingMessage) -> None:
        """A `station.connected` delivered to the replica's queue."""
        if message.routing_key != CONNECTED:
            return
        try:
            event = StationConnected.model_validate_json(message.body)
        except ValidationError as exc:
            log.warning("ignoring an unreadable station.connected: %s", exc.error_count())
            return
        version = OcppVersion.of_subprotocol(event.subprotocol)
        self.heard(event.charge_point_id, version, event.connected_at.timestamp())

    def _put(self, cp_id: str, entry: tuple[OcppVersion, float | None]) -> None:
        self._known.pop(cp_id, None)  # re-inserted last: the newest is forgotten last
        self._known[cp_id] = entry
        if len(self._known) > self._limit:
            del self._known[next(iter(self._known))]

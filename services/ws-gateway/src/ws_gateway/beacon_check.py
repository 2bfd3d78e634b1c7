"""The owner beacons a gateway hears (`ocpp.owners`): each counted only from the broker user
of the service it names and from a process of that service (bus/owners.py, bus/access.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from csms_shared.bus.access import allowed
from csms_shared.bus.owners import Owners, is_process_of
from csms_shared.contracts.envelopes import BadEnvelope, OwnerBeacon

from .call_refusals import BEACONS_REFUSED

log = logging.getLogger(__name__)

# (user, service) pairs of ignored beacons logged, at most: the names come from whoever sends
# (the counter still counts every one).
LOGGED_REFUSALS = 64


class BeaconCheck:
    """Reads beacons into `owners`, refusing those a service's broker user did not send."""

    def __init__(self, owners: Owners, broker_users: Mapping[str, str]) -> None:
        self.owners = owners
        # Role -> broker user: a beacon counts only from the user of the service it names.
        self._broker_users = dict(broker_users)
        self._refused: set[tuple[str | None, str]] = set()

    def heard(self, body: bytes, user_id: str | None, now: float) -> bool:
        """Take in a beacon the broker delivered from `user_id`; whether it counted."""
        try:
            beacon = OwnerBeacon.decode(body)
        except BadEnvelope as exc:
            log.warning("an unreadable owner beacon: %s", exc)
            return False
        own = is_process_of(beacon.service, beacon.process)
        if not own or not allowed(user_id, frozenset({beacon.service}), self._broker_users):
            # Another service's credentials (allowed to beacon for their own) must not speak
            # for this one's processes: the broker verified the user_id.
            BEACONS_REFUSED.inc()
            pair = (user_id, beacon.service)
            if pair not in self._refused and len(self._refused) < LOGGED_REFUSALS:
                self._refused.add(pair)
                log.warning(
                    "ignored owner beacons for %r from broker user %r (not its user or process)",
                    beacon.service[:64],
                    user_id,
                )
            return False
        self.owners.heard(beacon, now)
        return True

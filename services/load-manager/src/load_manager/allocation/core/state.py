"""What the allocator knows at a moment: the site, each EVSE's limits and session, settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from .site import EvseId, Site


@dataclass(frozen=True, slots=True)
class AllocatorSettings:
    """The allocator's knobs; the service builds them from its own settings."""

    # Smaller changes are not sent, unless safety or a pause/resume needs them; 0.2 A at
    # least, whatever is set (planning.SMALLEST_CHANGE).
    threshold: Decimal = Decimal(1)
    # An offline station counts at its last allocation this long, then at its maximum.
    offline_grace: timedelta = timedelta(minutes=5)
    # After a rejection or a timeout, the EVSE is left alone this long before a new try.
    retry_after: timedelta = timedelta(seconds=60)
    # A session drawing under its allowance by more than `headroom` for this long is capped.
    underuse_after: timedelta = timedelta(minutes=5)
    # The cap is the draw plus this; a draw within half of it of the cap releases the cap.
    headroom: Decimal = Decimal(2)
    # A reading below 0 or above this many times the EVSE's maximum is not a current it can
    # draw: it is ignored (`plausible`).
    reading_factor: Decimal = Decimal(2)


@dataclass(frozen=True, slots=True)
class Session:
    """A transaction on an EVSE, as far as sharing cares."""

    started_at: datetime
    # Its id tag's chargingPriority (OCPP 2.0.1, -9..9), added to the station's priority.
    tag_priority: int = 0
    # SuspendedEV: the car takes nothing for now, so the session is held at its minimum.
    suspended_by_ev: bool = False
    # Since when every meter reading has shown the draw well under the allowance.
    underuse_since: datetime | None = None
    # The allowance a sustained underuse lowered this session to (draw + headroom).
    demand_cap: Decimal | None = None


@dataclass(frozen=True, slots=True)
class EvReport:
    """What the EV itself reported (SuspendedEV, or Charging again) while the allocator knew no
    session on its EVSE, and when: the car's state (its transaction's, or the EVSE's status
    before the transaction opened) and the transaction's start reach the allocator on separate
    ways, so the start can come second. The session that starts next takes it
    (`EARLY_REPORT_WINDOW`)."""

    suspended_by_ev: bool
    at: datetime


# A report is the next session's when that session started no later than this after it: late
# enough for a station clock somewhat ahead of ours and for the start to queue behind it, early
# enough that the last report of the session before (delivered after its end) is not a new car's
# in most cases. One taken wrongly lasts until the station reports the car's state again.
EARLY_REPORT_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class EvseState:
    """One EVSE's limits as the station holds them, its session and its last reading.

    `applied` is the last limit the station acknowledged, `in_flight` one sent without an
    answer yet (at most one at a time). `unresponsive` means the station's limit is not known
    (a timeout, a boot, a long time offline, or never set): it counts at its maximum until a
    limit it is sent is acknowledged.
    """

    applied: Decimal | None = None
    in_flight: Decimal | None = None
    # When the limit in flight was sent (for a service looking for overdue answers).
    sent_at: datetime | None = None
    unresponsive: bool = True
    # The last rejection or timeout, for the retry delay.
    failed_at: datetime | None = None
    session: Session | None = None
    draw: Decimal | None = None
    measured_at: datetime | None = None
    # The EV's state reported while no session was known, for the session that starts next.
    ev_report: EvReport | None = None
    # Since when its readings have been implausible (ignored); None once one is plausible.
    implausible_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SiteState:
    """The allocator's whole input: immutable, changed only by `apply(state, event)`."""

    site: Site
    evses: Mapping[EvseId, EvseState]
    # Stations whose connection is down, and since when.
    offline_since: Mapping[str, datetime]
    settings: AllocatorSettings

    @classmethod
    def start(cls, site: Site, settings: AllocatorSettings | None = None) -> SiteState:
        """A site as the allocator first sees it: every EVSE's limit unknown, so counted at
        its maximum until its first limit is acknowledged; every station online."""
        return cls(
            site,
            MappingProxyType({evse: EvseState() for evse in site.evses}),
            MappingProxyType({}),
            settings or AllocatorSettings(),
        )

    def evse(self, evse: EvseId) -> EvseState:
        """One EVSE's state; KeyError for an EVSE not on this site."""
        return self.evses[evse]

    def with_evse(self, evse: EvseId, updated: EvseState) -> SiteState:
        """The state with one EVSE's state replaced."""
        return replace(self, evses=MappingProxyType({**self.evses, evse: updated}))

    def priority(self, evse: EvseId) -> int:
        """The priority of the session on an EVSE: its station's plus its id tag's. The
        station's is the operator's coarse lever (-1000..1000); the tag's (-9..9) nudges a
        session within it, never past one on a station 19 or more above its own."""
        session = self.evses[evse].session
        tag = 0 if session is None else session.tag_priority
        return self.site.station_of(evse).priority + tag

"""Readings a station's EVSE cannot draw: counted, and raised as a security event.

The core ignores a `Current.Import` below 0 or above `LOADS_ALLOCATION_READING_FACTOR` times the
EVSE's maximum (`allocation.plausible`): a meter gone wrong, or a station that lies to take a
larger share or to break its site's rounds. Here each one is counted
(`csms_loads_implausible_readings_total`, by the bound it breaks), and an EVSE whose readings
turn implausible raises one `security.event` (the suite's security events, which the system log
keeps), not one per reading: it raises another only after a plausible reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit
from csms_shared.contracts.events import SecurityEvent

from ..db import outbox
from .core import MeterRead, SiteState, plausible

IMPLAUSIBLE = Counter(
    "csms_loads_implausible_readings_total",
    "Current.Import readings an EVSE cannot draw (below 0, or far above its maximum), ignored"
    " by the allocator",
    ["bound"],
)
# The security event's type (OCPP's are CamelCase names of what happened).
KIND = "ImplausibleCurrentReading"
# OCPP's SecurityEventNotification techInfo is at most 255 characters.
TECH_INFO_LENGTH = 255


def implausible(state: SiteState, read: MeterRead) -> bool:
    """Whether the core will ignore `read`; counted if so."""
    if plausible(state, read.evse, read.amps):
        return False
    IMPLAUSIBLE.labels(bound="negative" if read.amps < 0 else "above_maximum").inc()
    return True


def _tech_info(state: SiteState, read: MeterRead) -> str:
    # `.7g`: a reading of 1E+15 A is written as that, not as sixteen digits.
    maximum = state.site.evses[read.evse].max_current
    most = maximum * state.settings.reading_factor
    return (
        f"EVSE {read.evse.evse} reported Current.Import {read.amps:.7g} A, outside 0..{most:f} A"
        f" ({state.settings.reading_factor:f} x its maximum {maximum:f} A): ignored for load"
        " management"
    )[:TECH_INFO_LENGTH]


async def raise_events(
    session: AsyncSession,
    before: SiteState,
    after: SiteState,
    reads: Iterable[MeterRead],
    at: datetime,
) -> None:
    """One security event per EVSE whose readings turned implausible in this round (its first
    such reading's), in the round's transaction."""
    raised = set()
    for read in reads:
        evse = read.evse
        if evse in raised or before.evses[evse].implausible_since is not None:
            continue
        if after.evses[evse].implausible_since is None:
            continue  # a plausible reading came after it in the same round
        raised.add(evse)
        event = SecurityEvent(
            at=at,
            charge_point_id=evse.station,
            type=KIND,
            tech_info=_tech_info(after, read),
            source="csms",
            # The registry keeps it in the station's security log (GET .../security-events).
            service="load-manager",
        )
        await emit(session, outbox, event)

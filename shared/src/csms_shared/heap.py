"""The process heap after start-up: frozen, so garbage collections stop scanning it; and how
often the collector runs."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# gc.set_threshold's three numbers (GC_THRESHOLDS, csms_shared.settings): a young collection
# after 20,000 more allocations than frees (Python's default is 700), the middle one every 20
# of those, and a full one every 100 middle ones (defaults 10 and 10). Measured by the bench's
# bulk-storing scenario (bench/RESULTS.md, 2026-11-27): a backlog keeps thousands of calls
# alive across collections, the default thresholds promote them to the oldest generation and
# then scan it over and over; these store about 1.5x the calls per second on the same CPU, for
# young collections of about 0.3 ms each instead of 0.06 ms.
GC_THRESHOLDS = (20_000, 20, 100)


def set_collector_thresholds(thresholds: tuple[int, int, int]) -> None:
    """How many allocations (and younger collections) between the collector's runs."""
    gc.set_threshold(*thresholds)
    log.debug("garbage collector thresholds %s", thresholds)


def freeze_startup_heap(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Move every object alive now out of the collector's reach (`gc.freeze`), then run it at
    `thresholds` (set_collector_thresholds).

    What a started service holds (SQLAlchemy metadata and compiled statements, pydantic
    models, the broker topology) lives as long as the process. A full collection scanned all
    of it: 65-80 ms every few seconds under load in the session-service, each one a pause that
    every call in flight waits out. Frozen objects are never collected, so only call this once
    start-up is done; garbage made afterwards is collected as usual.
    """
    gc.collect()
    gc.freeze()
    log.debug("froze %d start-up objects", gc.get_freeze_count())
    set_collector_thresholds(thresholds)

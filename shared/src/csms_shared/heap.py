"""The process heap after start-up: frozen, so garbage collections stop scanning it."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """Move every object alive now out of the collector's reach (`gc.freeze`).

    What a started service holds (SQLAlchemy metadata and compiled statements, pydantic
    models, the broker topology) lives as long as the process. A full collection scanned all
    of it: 65-80 ms every few seconds under load in the session-service, each one a pause that
    every call in flight waits out. Frozen objects are never collected, so only call this once
    start-up is done; garbage made afterwards is collected as usual.
    """
    gc.collect()
    gc.freeze()
    log.debug("froze %d start-up objects", gc.get_freeze_count())

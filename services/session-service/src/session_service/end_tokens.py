"""The decision about the idTag a 1.6 StopTransaction names: one rule for the stop's own
handling (`action_stop`) and for the answer the gateway gives it apart, before it is stored
(`rpc_ends`; docs/ARCHITECTURE.md, "Decisions first")."""

from __future__ import annotations

from datetime import datetime

from .auth import Authorization, IdTagRecord, stop_info
from .checks import timestamp_checks
from .settings import Settings


def stop_tag_decision(
    settings: Settings,
    id_tag: str | None,
    tag: IdTagRecord | None,
    timestamp: datetime,
    received: datetime,
) -> tuple[list[str], Authorization | None]:
    """A StopTransaction's timestamp warnings and its idTag's decision (None: it named none),
    judged as the list has it (`tag`: the idTag's entry, None when it is not on the list)."""
    warnings, at = timestamp_checks(timestamp, received, settings.clock_skew)
    return warnings, stop_info(id_tag, tag, at=at, unknown=settings.unknown_id_tags)

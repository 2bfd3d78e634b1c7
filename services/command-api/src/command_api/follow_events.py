"""The events command-api follows, on the shared runtime (`<service>.events`, the services'
ack, requeue and dead-letter policy): a boot to read the configuration after, and, with
API_LOCAL_LIST_RESYNC, the changes that make local lists stale (id tags, and the tokens eMSPs
pushed for lists that hold them).

Queues of earlier versions (`command-api.boot-configuration`, `command-api.local-list-resync`)
are deleted at start: what they still held (a boot read, a staleness mark) is lost once, at the
upgrade; the next boot reads again, and a stale list is marked again at its next change.
"""

from __future__ import annotations

import contextlib
import logging

from aio_pika.abc import AbstractChannel
from aiormq.exceptions import AMQPError

from csms_shared.bus.router import Context, Router
from csms_shared.bus.topology import service_queue
from csms_shared.contracts.events import (
    IdTagChanged,
    RoamingTokenChanged,
    StationBooted,
    StationConnected,
)

from .api.deps import AppState
from .boot_reads import read_configuration
from .local_list_resync import LocalListResync
from .settings import Settings

log = logging.getLogger(__name__)

SERVICE = "command-api"
RETIRED_QUEUES = (
    service_queue(SERVICE, "boot-configuration"),
    service_queue(SERVICE, "local-list-resync"),
)


def follow(state: AppState, resync: LocalListResync | None) -> Router:
    """The routes of what the settings turn on (none: no queue is declared)."""
    router = Router(service=SERVICE)
    if state.settings.read_configuration_at_boot:

        @router.event("station.booted")
        async def booted(event: StationBooted, ctx: Context[Settings]) -> None:
            await read_configuration(state, event)

    if resync is not None:

        @router.event("id_tag.changed")
        async def tag_changed(event: IdTagChanged, ctx: Context[Settings]) -> None:
            await resync.tag_changed(event, ctx.session)

        @router.event("roaming.token_changed")
        async def roaming_token_changed(event: RoamingTokenChanged, ctx: Context[Settings]) -> None:
            await resync.roaming_token_changed(event, ctx.session)

        @router.event("station.connected")
        async def connected(event: StationConnected, ctx: Context[Settings]) -> None:
            await resync.connected(event, ctx.session)

    return router


async def retire_queues(channel: AbstractChannel) -> None:
    """Delete the queues earlier versions followed these events on (if still there)."""
    for queue in RETIRED_QUEUES:
        with contextlib.suppress(AMQPError):
            await channel.queue_delete(queue)
            log.info("deleted %s, which this version no longer reads", queue)

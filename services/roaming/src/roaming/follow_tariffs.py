"""Events the roaming service follows from the session-service: its tariffs, which it
publishes to the platforms as OCPI Tariffs."""

from __future__ import annotations

from csms_shared.contracts.session_events import TariffChanged

from . import tariff_store
from .location_documents import Publisher
from .router import Ctx, router


@router.event("tariff.changed")
async def tariff_changed(event: TariffChanged, ctx: Ctx) -> None:
    await tariff_store.follow(ctx.session, event, Publisher.of(ctx.settings))

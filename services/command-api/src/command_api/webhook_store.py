"""Webhooks and their deliveries in schema `commands`: registered, enabled and disabled, their
bindings, the delivery log (the queue of each endpoint: webhook_queue.py)."""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit
from csms_shared.contracts.events import WebhookDisabled

from .db import outbox, webhook_bindings, webhook_deliveries, webhooks
from .models import Delivery, Webhook

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


def matches(patterns: list[str], event_type: str) -> bool:
    """Whether an event type matches one of a webhook's shell-style patterns."""
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


async def create(
    session: AsyncSession, *, url: str, events: list[str], secret: str, created_by: str
) -> Row[Any]:
    """A new webhook, enabled."""
    row: Row[Any] = (
        await session.execute(
            insert(webhooks)
            .values(
                id=str(uuid.uuid4()), url=url, events=events, secret=secret, created_by=created_by
            )
            .returning(webhooks)
        )
    ).one()
    return row


async def get(session: AsyncSession, webhook_id: str) -> Row[Any] | None:
    """One webhook."""
    return (await session.execute(select(webhooks).where(webhooks.c.id == webhook_id))).first()


async def page(session: AsyncSession, limit: int, offset: int) -> tuple[list[Row[Any]], int]:
    """Webhooks, oldest first, and the total."""
    total = await session.scalar(select(func.count()).select_from(webhooks))
    rows = await session.execute(
        select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def remove(session: AsyncSession, webhook_id: str) -> bool:
    """Delete a webhook and its deliveries; False if there was none."""
    result = await session.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def enabled(session: AsyncSession) -> list[Row[Any]]:
    """The webhooks that receive events."""
    return list(await session.execute(select(webhooks).where(webhooks.c.enabled.is_(True))))


def binding_keys(patterns: Iterable[str]) -> set[str]:
    """The topic binding keys that bring every event the shell-style `patterns` match.

    A pattern's words up to the first with a wildcard, then `#` (fnmatch's `*` crosses dots):
    `transaction.*` needs `transaction.#`, `command.completed` itself, `*` or `*.x` all of `#`.
    A key may bring more than its pattern matches; the follower matches each event again."""
    keys: set[str] = set()
    for pattern in patterns:
        words: list[str] = []
        for word in pattern.split("."):
            if "*" in word or "?" in word:
                words.append("#")
                break
            words.append(word)
        keys.add(".".join(words))
    return {"#"} if "#" in keys else keys


async def bound_keys(session: AsyncSession) -> set[str]:
    """The binding keys the event queue has, as last recorded (lock the table first)."""
    return set(await session.scalars(select(webhook_bindings.c.binding_key)))


async def record_bound_keys(session: AsyncSession, keys: set[str]) -> None:
    """Record the event queue's binding keys after binding and unbinding."""
    await session.execute(delete(webhook_bindings))
    if keys:
        await session.execute(insert(webhook_bindings), [{"binding_key": k} for k in keys])


async def disable(session: AsyncSession, webhook_id: str, reason: str) -> bool:
    """Stop a webhook, cancel what it still had queued and publish `webhook.disabled`; False
    if it was not enabled (nothing done)."""
    row = (
        await session.execute(
            update(webhooks)
            .where(and_(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True)))
            .values(enabled=False, disabled_at=func.now(), disabled_reason=reason)
            .returning(webhooks.c.url, webhooks.c.failing_since)
        )
    ).first()
    if row is None:
        return False
    await session.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.webhook_id == webhook_id,
            webhook_deliveries.c.status == PENDING,
        )
        .values(status=CANCELLED, leased_until=None)
    )
    event = WebhookDisabled(webhook_id=webhook_id, url=row.url, reason=reason)
    await emit(session, outbox, event)
    return True


async def enable(session: AsyncSession, webhook_id: str) -> Row[Any] | None:
    """An admin turns a disabled webhook on again: healthy, unpaused, sent the events from now
    on (what was cancelled when it was disabled stays cancelled); None if there is none."""
    row: Row[Any] | None = (
        await session.execute(
            update(webhooks)
            .where(webhooks.c.id == webhook_id)
            .values(
                enabled=True,
                disabled_at=None,
                disabled_reason=None,
                failing_since=None,
                consecutive_failures=0,
                paused_until=None,
            )
            .returning(webhooks)
        )
    ).first()
    return row


async def disabled(session: AsyncSession) -> list[Row[Any]]:
    """The disabled webhooks, the last disabled first (the console's notice)."""
    return list(
        await session.execute(
            select(webhooks)
            .where(webhooks.c.enabled.is_(False))
            .order_by(webhooks.c.disabled_at.desc().nulls_last(), webhooks.c.id)
        )
    )


async def disabled_count(session: AsyncSession) -> int:
    """How many webhooks are disabled (a gauge)."""
    found = await session.scalar(
        select(func.count()).select_from(webhooks).where(webhooks.c.enabled.is_(False))
    )
    return int(found or 0)


async def record_test(
    session: AsyncSession, delivery_id: int, status_code: int | None, error: str | None
) -> None:
    """How a test delivery, made at once, went."""
    await session.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(
            attempts=1,
            last_status_code=status_code,
            last_error=error,
            delivered_at=None if error else func.now(),
        )
    )


async def delivery(session: AsyncSession, delivery_id: int) -> Row[Any]:
    """One delivery."""
    return (
        await session.execute(
            select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        )
    ).one()


async def deliveries(
    session: AsyncSession, webhook_id: str, limit: int, offset: int, status: str | None
) -> tuple[list[Row[Any]], int]:
    """A webhook's deliveries, newest first, and the total."""
    where = [webhook_deliveries.c.webhook_id == webhook_id]
    if status is not None:
        where.append(webhook_deliveries.c.status == status)
    total = await session.scalar(select(func.count()).select_from(webhook_deliveries).where(*where))
    rows = await session.execute(
        select(webhook_deliveries)
        .where(*where)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def prune(session: AsyncSession, days: float, batch: int = 5_000) -> int:
    """Delete up to `batch` finished deliveries older than `days`; how many went."""
    d = webhook_deliveries.c
    old = (
        select(d.id)
        .where(d.created_at < func.now() - timedelta(days=days), d.status != PENDING)
        .limit(batch)
    )
    result = await session.execute(delete(webhook_deliveries).where(d.id.in_(old)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def webhook_of(row: Row[Any]) -> Webhook:
    """A webhook as the API shows it (never its secret)."""
    return Webhook(
        id=row.id,
        url=row.url,
        events=row.events,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        failing_since=row.failing_since,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        consecutive_failures=row.consecutive_failures,
        paused_until=row.paused_until,
    )


def delivery_of(row: Row[Any]) -> Delivery:
    """A delivery of the log."""
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        failing_since=row.failing_since,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        delivered_at=row.delivered_at,
    )

"""Webhooks and their deliveries in schema `commands`: registered, queued, claimed, recorded."""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.bus.outbox import emit
from csms_shared.contracts.events import WebhookDisabled
from csms_shared.ocpp._base import format_datetime

from .db import outbox, webhook_bindings, webhook_deliveries, webhooks
from .models import Delivery, Webhook

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
# Failures in a row (no success between) that say the receiver is unwell before its endpoint is
# paused: one CP's event a receiver refuses among others it takes pauses nothing.
PAUSE_AFTER = 3


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


async def enqueue(
    session: AsyncSession,
    webhook_ids: list[str],
    *,
    event_id: str,
    event_type: str,
    ordering_key: str,
    body: str,
    status: str = PENDING,
) -> list[int]:
    """A delivery per webhook; an event already queued for a webhook (a redelivery) is not."""
    if not webhook_ids:
        return []
    rows = await session.execute(
        pg_insert(webhook_deliveries)
        .values(
            [
                {
                    "webhook_id": w,
                    "event_id": event_id,
                    "event_type": event_type,
                    "ordering_key": ordering_key,
                    "body": body,
                    "status": status,
                }
                for w in webhook_ids
            ]
        )
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(webhook_deliveries.c.id)
    )
    return [r.id for r in rows]


_ROW_COLUMNS = ("webhook_id", "event_id", "event_type", "ordering_key", "body")
# One parameter per column however many rows (a VALUES list would hit asyncpg's 32,767).
_ENQUEUE_ROWS = text(
    "INSERT INTO commands.webhook_deliveries"
    f" ({', '.join(_ROW_COLUMNS)})"
    f" SELECT {', '.join(_ROW_COLUMNS)} FROM unnest("
    + ", ".join(f"CAST(:{name} AS text[])" for name in _ROW_COLUMNS)
    + f") WITH ORDINALITY AS v({', '.join(_ROW_COLUMNS)}, n)"
    # In the order given: ids keep the events' order per charge point.
    " ORDER BY n ON CONFLICT (webhook_id, event_id) DO NOTHING"
)


async def enqueue_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Deliveries of several events in one statement, in the order given (`enqueue`'s rows:
    webhook_id, event_id, event_type, ordering_key, body); a redelivered event's are not."""
    if rows:
        await session.execute(
            _ENQUEUE_ROWS, {name: [row[name] for row in rows] for name in _ROW_COLUMNS}
        )


# One endpoint's own queue: the oldest pending delivery of each of its ordering keys (a CP's
# events reach a webhook in order) that is due and not leased, up to `limit`, or a single one
# (a probe) while the endpoint is failing; none while it is paused or disabled. SKIP LOCKED:
# replicas claiming at once take different rows; the lease covers the request after the claim
# commits. Another endpoint's backlog is never read: a dead receiver delays only itself.
_CLAIM = text(
    """
    WITH hook AS (
        SELECT w.id, w.url, w.secret,
               CASE WHEN w.consecutive_failures >= :pause_after THEN 1 ELSE :limit END AS room
        FROM commands.webhooks w
        WHERE w.id = :webhook AND w.enabled
          AND (w.paused_until IS NULL OR w.paused_until <= now())
    ), due AS (
        SELECT d.id FROM commands.webhook_deliveries d
        WHERE d.webhook_id = :webhook AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until < now())
          AND EXISTS (SELECT 1 FROM hook)
          AND NOT EXISTS (
              SELECT 1 FROM commands.webhook_deliveries e
              WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key
                AND e.status = 'pending' AND e.id < d.id)
        ORDER BY d.id
        LIMIT (SELECT room FROM hook)
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE commands.webhook_deliveries d
    SET leased_until = now() + make_interval(secs => :lease), attempts = d.attempts + 1
    FROM due, hook
    WHERE d.id = due.id
    RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.ordering_key, d.body, d.attempts,
        hook.url, hook.secret
    """
)


async def claim(
    session: AsyncSession, webhook_id: str, limit: int, lease_seconds: float
) -> list[Row[Any]]:
    """Lease up to `limit` of one webhook's deliveries that are due, each the next of its CP
    (one, while the webhook is failing; none while it is paused)."""
    params = {
        "webhook": webhook_id,
        "limit": limit,
        "lease": lease_seconds,
        "pause_after": PAUSE_AFTER,
    }
    return list(await session.execute(_CLAIM, params))


async def _lock_webhook(session: AsyncSession, webhook_id: str) -> None:
    """Take the webhook's row first: `disable` holds it while it cancels the webhook's pending
    deliveries, so an outcome that locked its delivery first would deadlock with it."""
    await session.execute(
        select(webhooks.c.id).where(webhooks.c.id == webhook_id).with_for_update()
    )


async def delivered(session: AsyncSession, delivery: Row[Any], status_code: int) -> None:
    """The receiver answered 2xx: done, and its webhook is healthy."""
    await _lock_webhook(session, delivery.webhook_id)
    await session.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery.id)
        .values(
            status=DELIVERED,
            delivered_at=func.now(),
            leased_until=None,
            last_status_code=status_code,
            last_error=None,
        )
    )
    await session.execute(
        update(webhooks)
        .where(webhooks.c.id == delivery.webhook_id)
        .values(failing_since=None, consecutive_failures=0, paused_until=None)
    )


async def failed(
    session: AsyncSession,
    delivery: Row[Any],
    *,
    status_code: int | None,
    error: str,
    retry_in: float,
    disable_after: float,
    pause: Callable[[int], float] | None = None,
) -> str | None:
    """The attempt failed: try again in `retry_in` seconds, unless the webhook, or this delivery
    (holding back its CP's later events), has failed for `disable_after` seconds; then the
    webhook is disabled, reported and its queue cancelled, and the reason is returned.
    `pause`: the failure says the receiver is unwell (no answer, 5xx, 408, 429): counted, and
    from PAUSE_AFTER in a row the whole endpoint gets nothing for `pause(failures in a row)`
    seconds, then one probe."""
    d = webhook_deliveries.c
    await _lock_webhook(session, delivery.webhook_id)
    since = (
        await session.execute(
            update(webhook_deliveries)
            .where(d.id == delivery.id)
            .values(
                next_attempt_at=func.now() + timedelta(seconds=retry_in),
                leased_until=None,
                last_status_code=status_code,
                last_error=error[:1000],
                failing_since=func.coalesce(d.failing_since, func.now()),
            )
            .returning(d.failing_since)
        )
    ).scalar()
    changes: dict[str, Any] = {"failing_since": func.coalesce(webhooks.c.failing_since, func.now())}
    if pause is not None:
        failures = await session.scalar(
            select(webhooks.c.consecutive_failures).where(webhooks.c.id == delivery.webhook_id)
        )
        in_a_row = int(failures or 0) + 1
        changes["consecutive_failures"] = in_a_row
        if in_a_row >= PAUSE_AFTER:
            wait = pause(in_a_row - PAUSE_AFTER + 1)
            changes["paused_until"] = func.now() + timedelta(seconds=wait)
    hook = (
        await session.execute(
            update(webhooks)
            .where(webhooks.c.id == delivery.webhook_id)
            .values(changes)
            .returning(webhooks.c.failing_since, func.now().label("now"))
        )
    ).first()
    if hook is None or since is None:
        return None
    limit = timedelta(seconds=disable_after)
    if hook.now - hook.failing_since >= limit:
        reason = f"every delivery failed since {format_datetime(hook.failing_since)}"
    elif hook.now - since >= limit:
        # Other CPs' successes keep the webhook healthy while this CP's events wait forever.
        cp = delivery.ordering_key or "none"
        reason = (
            f"delivery {delivery.id} (event {delivery.event_id}, charge point {cp}) failed "
            f"since {format_datetime(since)}, holding back its charge point's later events"
        )
    else:
        return None
    reason = f"{reason}; last: {error}"[:1000]
    await disable(session, delivery.webhook_id, reason)
    return reason


async def disable(session: AsyncSession, webhook_id: str, reason: str) -> None:
    """Stop a webhook, cancel what it still had queued and publish `webhook.disabled`."""
    row = (
        await session.execute(
            update(webhooks)
            .where(and_(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True)))
            .values(enabled=False, disabled_at=func.now(), disabled_reason=reason)
            .returning(webhooks.c.url, webhooks.c.failing_since)
        )
    ).first()
    if row is None:
        return
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

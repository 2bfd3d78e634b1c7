"""Each webhook endpoint's queue in schema `commands`: deliveries queued from events, claimed by
the endpoint's loop (webhooks.py), and their outcomes recorded, pausing an unwell endpoint and
disabling one that failed too long (webhook_store.disable)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp._base import format_datetime

from .db import webhook_deliveries, webhooks
from .webhook_store import DELIVERED, PENDING, disable

# Failures in a row (no success between) that say the receiver is unwell before its endpoint is
# paused: one CP's event a receiver refuses among others it takes pauses nothing.
PAUSE_AFTER = 3


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
            # Still pending: an attempt that ends after its webhook was disabled (its delivery
            # cancelled) changes nothing, and cannot disable a webhook re-enabled meanwhile.
            .where(d.id == delivery.id, d.status == PENDING)
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
    if since is None:
        return None
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
    if hook is None:
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
    # None when another attempt of the same claim disabled it first: reported once.
    return reason if await disable(session, delivery.webhook_id, reason) else None

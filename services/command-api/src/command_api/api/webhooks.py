"""`/webhooks` (admin): back offices' URLs that receive matching events, and their deliveries."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import httpx
from fastapi import HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from csms_shared.contracts.events import WebhookTest
from csms_shared.outbound import RefusedTarget, check_target

from .. import problems
from .. import webhook_queue as queue
from .. import webhook_store as store
from ..models import Delivery, Page, Webhook
from ..webhook_signing import SECRET_PREFIX, signing_key
from .deps import MAX_OFFSET, Admin, Session, State, api_router

log = logging.getLogger(__name__)

router = api_router(404, tags=["webhooks"])

WebhookId = Annotated[str, Path(alias="id", max_length=36)]
# `transaction.*`, `command.completed`, `*`: shell-style patterns over event names.
Pattern = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.*?]{1,100}$")]


class WebhookSpec(BaseModel):
    """A URL, the events it wants, and the secret its deliveries are signed with."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(min_length=8, max_length=2000)]
    events: list[Pattern] = Field(min_length=1, max_length=50)
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] = Field(
        description="Signs the deliveries (Standard Webhooks): `whsec_<base64>` stands for the "
        "bytes it encodes, any other secret for its UTF-8 bytes; never shown again"
    )

    @field_validator("secret")
    @classmethod
    def _base64_after_whsec(cls, secret: str) -> str:
        # Standard Webhooks' libraries read `whsec_...` as base64: one that is not would sign
        # with a key the receiver's library cannot derive.
        if secret.startswith(SECRET_PREFIX) and signing_key(secret) == secret.encode():
            raise ValueError("a secret starting with whsec_ must be followed by base64")
        return secret


async def _found(session: Session, webhook_id: str) -> Any:
    row = await store.get(session, webhook_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No webhook {webhook_id!r}")
    return row


@router.post("/webhooks", response_model=Webhook, status_code=201)
async def create_webhook(
    state: State, session: Session, principal: Admin, body: WebhookSpec
) -> Webhook:
    """Register a URL for the events matching its patterns."""
    if "\x00" in body.url + body.secret:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "strings may not hold U+0000")
    try:
        await check_target(body.url, state.settings.webhook_networks())
    except RefusedTarget as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"url: {exc}") from None
    async with session.begin():
        row = await store.create(
            session,
            url=body.url,
            events=list(dict.fromkeys(body.events)),
            secret=body.secret,
            created_by=principal.name,
        )
    await state.webhooks.hooks_changed()
    return store.webhook_of(row)


@router.get("/webhooks", response_model=Page[Webhook])
async def list_webhooks(
    session: Session,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[Webhook]:
    """The registered webhooks, oldest first."""
    rows, total = await store.page(session, limit, offset)
    return Page[Webhook](
        items=[store.webhook_of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/webhooks/{id}", response_model=Webhook)
async def get_webhook(session: Session, principal: Admin, webhook_id: WebhookId) -> Webhook:
    """One webhook: enabled, failing since, or disabled and why."""
    return store.webhook_of(await _found(session, webhook_id))


@router.delete("/webhooks/{id}", status_code=204)
async def delete_webhook(
    state: State, session: Session, principal: Admin, webhook_id: WebhookId
) -> None:
    """Remove a webhook; what it still had queued is not sent."""
    async with session.begin():
        if not await store.remove(session, webhook_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No webhook {webhook_id!r}")
    await state.webhooks.hooks_changed()


@router.post("/webhooks/{id}/enable", response_model=Webhook, responses=problems.responses(404))
async def enable_webhook(
    state: State, session: Session, principal: Admin, webhook_id: WebhookId
) -> Webhook:
    """Turn a webhook disabled for failing (or any) on again: healthy and unpaused, sent the
    events from now on; what was cancelled when it was disabled stays cancelled."""
    async with session.begin():
        row = await store.enable(session, webhook_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No webhook {webhook_id!r}")
    log.info("webhook %s enabled again by %s", webhook_id, principal.name)
    await state.webhooks.hooks_changed()
    return store.webhook_of(row)


@router.get("/webhooks/{id}/deliveries", response_model=Page[Delivery])
async def list_deliveries(
    session: Session,
    principal: Admin,
    webhook_id: WebhookId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    delivery_status: Annotated[
        str | None,
        Query(alias="status", pattern="^(pending|delivered|failed|cancelled)$"),
    ] = None,
) -> Page[Delivery]:
    """The delivery log of a webhook, newest first."""
    await _found(session, webhook_id)
    rows, total = await store.deliveries(session, webhook_id, limit, offset, delivery_status)
    return Page[Delivery](
        items=[store.delivery_of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/webhooks/{id}/test", response_model=Delivery)
async def test_webhook(
    state: State, session: Session, principal: Admin, webhook_id: WebhookId
) -> Delivery:
    """POST a `webhook.test` event to the URL now and answer how it went (logged, not retried)."""
    hook = await _found(session, webhook_id)
    await session.rollback()
    body = WebhookTest(webhook_id=webhook_id).encode()
    event_id = f"test-{uuid.uuid4()}"
    status_code: int | None = None
    error: str | None = None
    try:
        status_code = await state.webhooks.post(
            hook.url, hook.secret, event_id, "webhook.test", body
        )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except (RefusedTarget, httpx.HTTPError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    async with session.begin():
        [delivery_id] = await queue.enqueue(
            session,
            [webhook_id],
            event_id=event_id[:100],
            event_type="webhook.test",
            ordering_key="test",
            body=body.decode(),
            status=store.FAILED if error else store.DELIVERED,
        )
        await store.record_test(session, delivery_id, status_code, error)
        row = await store.delivery(session, delivery_id)
    return store.delivery_of(row)

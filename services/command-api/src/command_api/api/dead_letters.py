"""Dead letters: admins list them per service queue, replay or discard them."""

from __future__ import annotations

import logging
from typing import Annotated

from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError, DeliveryError
from fastapi import HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from .. import problems
from ..dead_letters import SERVICE_QUEUES, Action, UnknownQueue, browse, depth, settle
from ..models import DeadLetterMessage, Page, Resource
from .deps import Admin, AppState, State, api_router

log = logging.getLogger(__name__)

router = api_router(503, tags=["dead letters"])

QueueName = Annotated[str, Path(max_length=100, description="A service queue: `<service>.calls`")]


class DeadLetterQueue(Resource):
    """A service queue and how many dead letters it holds."""

    queue: str
    dead_letter_queue: str
    messages: int
    declared: bool = Field(description="False until the owning service has run once")


class Selection(BaseModel):
    """Which dead letters: the ids listed, or every one when `ids` is left out."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]] | None = Field(
        default=None, max_length=1000
    )


class Settlement(Resource):
    """The ids replayed or discarded, and those asked for but not found."""

    done: list[str]
    missing: list[str]


def _connection(state: AppState) -> AbstractConnection:
    connection = state.dispatcher.connection
    if connection is None or connection.is_closed:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "The broker is not connected")
    return connection


def _known(queue: str) -> None:
    if queue not in SERVICE_QUEUES:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"No service queue {queue!r}; the queues are {', '.join(SERVICE_QUEUES)}",
        )


@router.get("/dead-letters", response_model=Page[DeadLetterQueue])
async def list_dead_letter_queues(state: State, principal: Admin) -> Page[DeadLetterQueue]:
    """Every service queue and how many messages its dead-letter queue holds."""
    connection = _connection(state)
    items = []
    for queue in SERVICE_QUEUES:
        count = await depth(connection, queue)
        items.append(
            DeadLetterQueue(
                queue=queue,
                dead_letter_queue=f"{queue}.dead",
                messages=count or 0,
                declared=count is not None,
            )
        )
    return Page[DeadLetterQueue](items=items, total=len(items), limit=len(items), offset=0)


@router.get(
    "/dead-letters/{queue}",
    response_model=Page[DeadLetterMessage],
    responses=problems.responses(404),
)
async def list_dead_letters(
    state: State,
    principal: Admin,
    queue: QueueName,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[DeadLetterMessage]:
    """The first `limit` dead letters of a service queue, oldest first; they stay there."""
    _known(queue)
    connection = _connection(state)
    total = await depth(connection, queue)
    if total is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{queue}.dead is not declared yet")
    try:
        items = await browse(connection, queue, limit)
    except UnknownQueue as exc:  # pragma: no cover - _known checked it
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    total = max(total, len(items))
    return Page[DeadLetterMessage](items=items, total=total, limit=limit, offset=0)


async def _settle(
    state: AppState, principal: Admin, queue: str, action: Action, body: Selection
) -> Settlement:
    _known(queue)
    try:
        settled = await settle(_connection(state), queue, action, body.ids)
    except DeliveryError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The broker could not route a replayed message; it stays dead-lettered",
        ) from None
    except AMQPError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"The broker refused: {exc}"
        ) from None
    log.info(
        "dead letters %s: %d of %s by %s",
        "replayed" if action == "replay" else "discarded",
        len(settled.done),
        queue,
        principal.name,
    )
    return Settlement(done=settled.done, missing=settled.missing)


@router.post(
    "/dead-letters/{queue}/replay",
    response_model=Settlement,
    responses=problems.responses(404),
)
async def replay_dead_letters(
    state: State, principal: Admin, queue: QueueName, body: Selection
) -> Settlement:
    """Publish dead letters again where they were first sent (and remove them from the
    dead-letter queue once the broker confirmed); `ids` picks some, none means all."""
    return await _settle(state, principal, queue, "replay", body)


@router.post(
    "/dead-letters/{queue}/discard",
    response_model=Settlement,
    responses=problems.responses(404),
)
async def discard_dead_letters(
    state: State, principal: Admin, queue: QueueName, body: Selection
) -> Settlement:
    """Remove dead letters for good; `ids` picks some, none means all."""
    return await _settle(state, principal, queue, "discard", body)

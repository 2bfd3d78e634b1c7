"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from csms_shared.db import ping
from csms_shared.health import probe_response

from .deps import State

router = APIRouter(tags=["health"])


async def _probe(path: str, state: State) -> Response:
    async def ready() -> None:
        await ping(state.engine)
        connection = state.dispatcher.connection
        if connection is None or connection.is_closed:
            raise RuntimeError("broker connection is down")

    status, body, content_type = await probe_response(path, ready)
    return Response(body, status_code=int(status.split()[0]), media_type=content_type)


@router.get("/healthz")
async def healthz(state: State) -> Response:
    """The process is alive."""
    return await _probe("/healthz", state)


@router.get("/readyz")
async def readyz(state: State) -> Response:
    """The broker and the database answer."""
    return await _probe("/readyz", state)


@router.get("/metrics")
async def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return await _probe("/metrics", state)

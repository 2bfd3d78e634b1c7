"""Waiting for replies: a future per correlation id, resolved by the reply consumer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any


class ReplyWaiter:
    """Futures keyed by correlation id; a reply nobody waits for any more is dropped."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Any]] = {}

    def new_id(self) -> str:
        """A fresh correlation id."""
        return uuid.uuid4().hex

    def expect(self, correlation_id: str) -> asyncio.Future[Any]:
        """A future that `resolve` fills for this correlation id."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        return future

    def forget(self, correlation_id: str) -> None:
        """Stop waiting (timeout, cancellation, unroutable publish)."""
        future = self._pending.pop(correlation_id, None)
        if future is not None and not future.done():
            future.cancel()

    def resolve(self, correlation_id: str | None, value: Any) -> bool:
        """Hand a reply to its waiter; False when nobody waits for it (late or duplicate)."""
        if correlation_id is None:
            return False
        future = self._pending.pop(correlation_id, None)
        if future is None or future.done():
            return False
        future.set_result(value)
        return True

    def __len__(self) -> int:
        return len(self._pending)

    async def wait(self, correlation_id: str, future: asyncio.Future[Any], timeout: float) -> Any:
        """The reply, or TimeoutError after `timeout` seconds (the waiter is then forgotten)."""
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(correlation_id, None)

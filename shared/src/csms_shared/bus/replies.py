"""Waiting for replies: a future per correlation id, resolved by the reply consumer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Generic, TypeVar

T = TypeVar("T")


class ReplyWaiter(Generic[T]):
    """Futures keyed by correlation id, each resolved with a reply of type T; a reply nobody
    waits for any more is dropped."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[T]] = {}

    def new_id(self) -> str:
        """A fresh correlation id."""
        return uuid.uuid4().hex

    def expect(self, correlation_id: str) -> asyncio.Future[T]:
        """A future that `resolve` fills for this correlation id."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        return future

    def forget(self, correlation_id: str) -> None:
        """Stop waiting (timeout, cancellation, unroutable publish)."""
        future = self._pending.pop(correlation_id, None)
        if future is not None and not future.done():
            future.cancel()

    def resolve(self, correlation_id: str | None, value: T) -> bool:
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

    async def wait(self, correlation_id: str, future: asyncio.Future[T], timeout: float) -> T:
        """The reply, or TimeoutError after `timeout` seconds (the waiter is then forgotten)."""
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(correlation_id, None)

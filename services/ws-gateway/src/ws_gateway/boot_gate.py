"""Holds a connection's CSMS->CP calls while its BootNotification awaits its answer.

A charge point counts itself registered only once it holds the answer to its BootNotification
(OCPP 1.6 section 4.2; 2.0.1 use case B01): a CALL that reaches it before that answer finds it
not yet accepted, and a strict one refuses it (SecurityError). The command worker waits here
until the answer has been written to the socket.
"""

from __future__ import annotations

import asyncio


class BootGate:
    """Counts the connection's BootNotifications received and not yet answered on the wire."""

    __slots__ = ("_open", "_shut")

    def __init__(self) -> None:
        self._open = 0
        # Made only when a command has to wait: an idle connection holds no future.
        self._shut: asyncio.Future[None] | None = None

    @property
    def pending(self) -> bool:
        """A BootNotification of this connection awaits its answer."""
        return self._open > 0

    def received(self) -> None:
        """A BootNotification came in; its answer will be sent with `answered`."""
        self._open += 1

    def answered(self) -> None:
        """The answer (CALLRESULT or CALLERROR) to one BootNotification has been written."""
        self._open = max(0, self._open - 1)
        if self._open == 0:
            self.release()

    def release(self) -> None:
        """Let every waiting command go (all answered, or the connection went)."""
        self._open = 0
        shut, self._shut = self._shut, None
        if shut is not None and not shut.done():
            shut.set_result(None)

    async def wait(self) -> None:
        """Return once no BootNotification of this connection awaits its answer."""
        while self._open > 0:
            if self._shut is None:
                self._shut = asyncio.get_running_loop().create_future()
            # Shielded: one waiter's timeout must not cancel the future the others wait on.
            await asyncio.shield(self._shut)

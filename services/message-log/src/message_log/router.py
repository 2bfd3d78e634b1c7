"""The message log's router: its RPC methods register on it."""

from csms_shared.bus.router import Context, Router

from .settings import Settings

router = Router(service="message-log")

Ctx = Context[Settings]

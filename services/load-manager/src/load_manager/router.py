"""The load-manager's router: its RPC methods register on it."""

from csms_shared.bus.router import Context, Router

from .settings import Settings

router = Router(service="load-manager")

Ctx = Context[Settings]

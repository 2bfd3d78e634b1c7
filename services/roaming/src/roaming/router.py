"""The roaming service's router: its RPC methods and followers register on it."""

from csms_shared.bus.router import Context, Router

from .settings import Settings

router = Router(service="roaming")

Ctx = Context[Settings]

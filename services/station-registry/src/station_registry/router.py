"""The registry's router: every module of entrypoints registers on it."""

from csms_shared.bus.router import CallContext, Context, Router

from .settings import Settings

router = Router(service="station-registry")

# What the registry's handlers get: contexts typed with its settings.
Ctx = Context[Settings]
CallCtx = CallContext[Settings]

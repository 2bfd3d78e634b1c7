"""The session-service's router: every module of entrypoints registers on it."""

from csms_shared.bus.router import CallContext, Context, Router

from .settings import Settings

router = Router(service="session-service")

# What the session-service's handlers get: contexts typed with its settings.
Ctx = Context[Settings]
CallCtx = CallContext[Settings]

"""The load-manager's router: its RPC methods register on it."""

from csms_shared.bus.router import Context, Router

from .settings import Settings

# Four lanes per event pattern: the answers, starts and readings of stations on different
# sites run their rounds side by side, each station's in publishing order (the rounds of one
# site wait for its row lock).
router = Router(service="load-manager", event_lanes=4)

Ctx = Context[Settings]

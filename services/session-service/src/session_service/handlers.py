"""The session-service's entrypoints: Authorize, transactions, meter values, RPC reads."""

from __future__ import annotations

from csms_shared.bus.router import Router

router = Router(service="session-service")

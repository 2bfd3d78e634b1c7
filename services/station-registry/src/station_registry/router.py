"""The registry's router: every module of entrypoints registers on it."""

from csms_shared.bus.router import Router

router = Router(service="station-registry")

"""Validate: each call's payload against its action's request model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ocpp._base import OcppModel
from ..ocpp.errors import InternalError, OcppError
from ..ocpp.framing import validate_payload
from .bundle import BundleItem
from .router import CallRoute


@dataclass(frozen=True, slots=True)
class Call:
    """One valid CALL: the headers it came with (CP, message id, gateway, received at) and its
    request."""

    headers: Mapping[str, Any]
    request: OcppModel


def validate_call(route: CallRoute | None, service: str, item: BundleItem) -> Call | OcppError:
    """The item as a Call of `route`, or the OcppError its payload deserves."""
    if route is None:
        return InternalError(f"{service} has no handler for this action")
    try:
        return Call(item.headers, validate_payload(route.request, item.payload))
    except OcppError as exc:
        return exc

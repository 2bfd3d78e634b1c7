"""Charge point identities as the security whitepaper allows them."""

from __future__ import annotations

import re

# OCPP 1.6 security whitepaper: at most 48 characters, no ':' (it would break Basic auth).
# Also a pydantic (Rust regex) pattern, where `$` ends the text; Python's `re` lets `$` match
# before a trailing newline, so Python code must use `fullmatch` ("CP1\n" is not "CP1").
CHARGE_POINT_ID_PATTERN = r"^[A-Za-z0-9._\-*+|@=]{1,48}$"
CHARGE_POINT_ID = re.compile(CHARGE_POINT_ID_PATTERN)
CHARGE_POINT_ID_CHARS = "1-48 characters of A-Z a-z 0-9 . _ - * + | @ ="


def is_charge_point_id(value: str) -> bool:
    """True when `value` is an identity a charge point may use."""
    return CHARGE_POINT_ID.fullmatch(value) is not None

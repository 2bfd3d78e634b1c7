"""OCPI credentials tokens: made here (random, 256 bits), kept as digests, sent and read in the
`Authorization: Token <base64>` header (transport_and_format.asciidoc)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets


def new_token() -> str:
    """A fresh credentials token: 43 URL-safe characters, printable non-whitespace ASCII."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored of a token this service issued (SHA-256, hex): enough for a random one."""
    return hashlib.sha256(token.encode()).hexdigest()


def authorization(token: str) -> str:
    """The Authorization header's value for `token`, Base64-encoded as 2.2.1 requires."""
    return "Token " + base64.b64encode(token.encode()).decode()


def token_of(header: str | None, *, accept_plain: bool) -> list[str]:
    """The tokens an Authorization header may carry, most likely first: the Base64-decoded
    value, and (with `accept_plain`, for 2.1.1/2.2 parties that do not encode) the value as
    sent. Empty when the header is missing or not `Token <value>`."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value or " " in value:
        return []
    found: list[str] = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded.isprintable():
        found.append(decoded)
    if accept_plain and value not in found:
        found.append(value)
    return found

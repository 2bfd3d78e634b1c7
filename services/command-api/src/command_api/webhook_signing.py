"""How webhook deliveries are signed: Standard Webhooks' headers, and for one release the
earlier `X-CSMS-Signature`."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac


def signature(secret: str, body: bytes) -> str:
    """`X-CSMS-Signature` (kept for one release beside Standard Webhooks' headers): `sha256=`
    and the hex HMAC-SHA256 of the body with the secret's UTF-8 bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of Standard Webhooks' signature: a secret `whsec_<base64>` stands for the
    bytes it encodes (as the Standard Webhooks libraries read it); any other, its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret.removeprefix(SECRET_PREFIX)
        with contextlib.suppress(binascii.Error, ValueError):
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            if key:
                return key
    return secret.encode()


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks' headers (standardwebhooks.com): `webhook-id` (the same for every
    attempt of an event), `webhook-timestamp` (this attempt's, Unix seconds) and
    `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. A receiver that
    refuses timestamps older than a few minutes and ids it saw cannot be replayed to."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }


def delivery_headers(
    secret: str, event_id: str, event_type: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """Every header of one delivery's POST: JSON, who sends it, Standard Webhooks' signature
    headers and the suite's own (event id and type, the plain HMAC of the body)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "csms-webhooks/1",
        **standard_headers(secret, event_id, timestamp, body),
        "X-CSMS-Event-Id": event_id,
        "X-CSMS-Event-Type": event_type,
        "X-CSMS-Signature": signature(secret, body),
    }

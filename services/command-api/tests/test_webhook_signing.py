"""Webhook signatures: Standard Webhooks' example vector and the reference library agree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from command_api.webhook_signing import signing_key, standard_headers


def test_the_specifications_example_is_signed_alike() -> None:
    # standard-webhooks/standard-webhooks, spec/standard-webhooks.md, "Signature scheme".
    headers = standard_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ("whsec_c2VjcmV0LWJ5dGVz", b"secret-bytes"),
        ("whsec_c2VjcmV0LWJ5dGVzMQ", b"secret-bytes1"),  # unpadded base64
        ("whsec_not base64!", b"whsec_not base64!"),  # not base64: its own text
        ("a-plain-secret-of-32-characters!", b"a-plain-secret-of-32-characters!"),
    ],
)
def test_the_key_is_the_secrets_base64_or_its_text(secret: str, key: bytes) -> None:
    assert signing_key(secret) == key


def test_the_reference_library_verifies_ours_and_refuses_a_stale_replay() -> None:
    body = b'{"chargePointId": "CP-1"}'
    now = int(datetime.now(UTC).timestamp())
    for secret in ("whsec_" + "ab12" * 8, "a-plain-secret-of-32-characters!"):
        verifier = Webhook(signing_key(secret))
        verifier.verify(body, standard_headers(secret, "evt-1", now, body))
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, standard_headers(secret, "evt-1", now - 600, body))

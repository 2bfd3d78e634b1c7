"""Secrets in OCPP payloads: configuration values that must never be stored, shown or logged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REDACTED = "<redacted>"

# Security whitepaper (OCPP 1.6 edition 2), section 1.3.2: the HTTP Basic password.
DEFAULT_SECRET_KEYS = ("AuthorizationKey",)

# Configuration keys of the security whitepaper: changing one changes how the CP proves who it
# is or whom it trusts, so only an admin may.
SECURITY_KEYS = frozenset(
    key.casefold()
    for key in (
        "AuthorizationKey",
        "SecurityProfile",
        "CpoName",
        "AdditionalRootCertificateCheck",
        "CertificateSignedMaxChainSize",
        "CertificateStoreMaxLength",
    )
)
# Commands that install or remove trust anchors or firmware.
SECURITY_ACTIONS = frozenset(
    {
        "InstallCertificate",
        "DeleteCertificate",
        "CertificateSigned",
        "SignedUpdateFirmware",
        "UpdateFirmware",
    }
)


def secret_keys(configured: Iterable[str]) -> frozenset[str]:
    """The keys whose values are redacted: the configured ones, AuthorizationKey always."""
    return frozenset(k.casefold() for k in (*DEFAULT_SECRET_KEYS, *configured))


def _is_secret(key: Any, secrets: frozenset[str]) -> bool:
    # A CP matches keys case-insensitively (as most do): "authorizationkey" is the same secret.
    return isinstance(key, str) and key.casefold() in secrets


def redact_request(action: str, payload: dict[str, Any], secrets: frozenset[str]) -> dict[str, Any]:
    """`payload` as it may be stored or shown: a secret key's new value replaced."""
    if action == "ChangeConfiguration" and _is_secret(payload.get("key"), secrets):
        return {**payload, "value": REDACTED}
    return payload


def redact_response(payload: Any, secrets: frozenset[str]) -> Any:
    """A CP's answer as it may be stored or shown: secret values of a configuration listing
    (GetConfiguration) replaced. Answers of other actions hold no configuration values."""
    if not isinstance(payload, dict):
        return payload
    listing = payload.get("configurationKey")
    if not isinstance(listing, list):
        return payload
    return {
        **payload,
        "configurationKey": [
            {**item, "value": REDACTED}
            if isinstance(item, dict) and _is_secret(item.get("key"), secrets) and "value" in item
            else item
            for item in listing
        ],
    }


def needs_admin(action: str, payload: dict[str, Any], secrets: frozenset[str]) -> bool:
    """True for commands that change how a CP authenticates or what it trusts."""
    if action in SECURITY_ACTIONS:
        return True
    key = payload.get("key")
    return (
        action == "ChangeConfiguration"
        and isinstance(key, str)
        and (key.casefold() in SECURITY_KEYS or key.casefold() in secrets)
    )

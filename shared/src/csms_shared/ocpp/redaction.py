"""Secrets in OCPP payloads: configuration values, 2.0.1 secret variables (`secret_variables.py`)
and URL passwords (`url_passwords.py`) that must never be stored, shown or logged, and the
commands that only an admin may send."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._base import JsonObject
from .secret_variables import (
    SECRET_VARIABLES,
    VARIABLE_ACTIONS,
    key_name,
    named_variables,
    redact_variables,
    secret_entry,
    secret_variable,
    variable_name,
)
from .url_passwords import REDACTED, json_strings, redact_echo, redact_urls, url_passwords

# Re-exported: callers read every rule about secrets from this module.
__all__ = [
    "ADMIN_ACTIONS",
    "AUTHORIZATION_KEYS",
    "DEFAULT_ADMIN_KEYS",
    "DEFAULT_SECRET_KEYS",
    "SECRET_VARIABLES",
    "SECURITY_KEYS",
    "VARIABLE_ACTIONS",
    "admin_keys",
    "carried_secrets",
    "configuration_key_problem",
    "key_name",
    "key_problem",
    "names_secret",
    "needs_admin",
    "redact_echo",
    "redact_request",
    "redact_response",
    "redact_variables",
    "secret_keys",
    "secret_variable",
]

# Security whitepaper (OCPP 1.6 edition 2), section 1.3.2: the HTTP Basic password.
DEFAULT_SECRET_KEYS = ("AuthorizationKey",)


def _names(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(key_name(key) for key in keys)


# Configuration keys of the security whitepaper: changing one changes how the CP proves who it
# is or whom it trusts, so only an admin may.
SECURITY_KEYS = _names(
    (
        "AuthorizationKey",
        "SecurityProfile",
        "CpoName",
        "AdditionalRootCertificateCheck",
        "CertificateSignedMaxChainSize",
        "CertificateStoreMaxLength",
    )
)
# OCPP 1.6 section 9: keys that decide whom a CP lets charge without asking the central system
# (unknown ids offline, its own list and cache before asking).
AUTHORIZATION_KEYS = _names(
    (
        "AllowOfflineTxForUnknownId",
        "LocalAuthorizeOffline",
        "LocalPreAuthorize",
        "AuthorizationCacheEnabled",
    )
)
# Commands that install or remove trust anchors or firmware, or write a CP's list of who may
# charge (operators synchronise that list from the id tags instead: its entries are the DB's).
ADMIN_ACTIONS = frozenset(
    {
        "InstallCertificate",
        "DeleteCertificate",
        "CertificateSigned",
        "SignedUpdateFirmware",
        "UpdateFirmware",
        "SendLocalList",
        # 2.0.1: where the station connects, and the firmware a local controller hands out.
        "SetNetworkProfile",
        "PublishFirmware",
        "UnpublishFirmware",
    }
)
# Examples of vendors' keys that say where a CP connects or uploads; a deployment lists its own
# vendors' keys in CSMS_ADMIN_CONFIGURATION_KEYS.
DEFAULT_ADMIN_KEYS = ("CentralSystemURL", "CentralSystemAddress", "OcppServerUrl", "BackendUrl")


def secret_keys(configured: Iterable[str]) -> frozenset[str]:
    """The keys whose values are redacted: the configured ones, AuthorizationKey always."""
    return _names((*DEFAULT_SECRET_KEYS, *configured))


def admin_keys(configured: Iterable[str]) -> frozenset[str]:
    """The vendor keys (where a CP connects or uploads) only an admin may change: the
    configured ones and the examples of `DEFAULT_ADMIN_KEYS`."""
    return _names((*DEFAULT_ADMIN_KEYS, *configured))


def names_secret(text: str, secrets: frozenset[str]) -> bool:
    """Whether `text` (a frame that is not OCPP-J) names a secret key or variable: then no
    part of it is kept, since which part is the value cannot be told."""
    folded = text.casefold()
    return any(key in folded for key in secrets) or any(
        variable in folded for _, variable in SECRET_VARIABLES
    )


def _is_key(key: Any, names: frozenset[str]) -> bool:
    return isinstance(key, str) and key_name(key) in names


def key_problem(key: str) -> str | None:
    """Why a configuration key name may not be sent: padding or control characters would let
    it pass as another key here while the CP reads it as the secret one."""
    if key != key.strip():
        return "has leading or trailing whitespace"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in key):
        return "contains a control character"
    return None


def configuration_key_problem(action: str, payload: Mapping[str, object]) -> str | None:
    """The first key name of a ChangeConfiguration or GetConfiguration (component or variable
    name of a 2.0.1 SetVariables or GetVariables) that may not be sent, with why (`key: has
    leading or trailing whitespace`); None when all may."""
    if action in _VARIABLE_LISTS:
        return _variable_name_problem(action, payload)
    if action == "ChangeConfiguration":
        keys = [payload.get("key")]
    elif action == "GetConfiguration":
        listed = payload.get("key")
        keys = list(listed) if isinstance(listed, list) else []
    else:
        return None
    for n, key in enumerate(keys):
        problem = isinstance(key, str) and key_problem(key)
        if problem:
            where = "key" if action == "ChangeConfiguration" else f"key.{n}"
            return f"{where}: {key!r} {problem}"
    return None


# --- what a command carries and what may be kept of it --------------------------------------


def carried_secrets(action: str, payload: Any, secrets: frozenset[str]) -> list[str]:
    """The secret strings a CALL carries: a secret key's new value and every URL password. A
    CP that echoes one back (in a CALLERROR's description, say) has it redacted there too."""
    found = [s for text in json_strings(payload) for s in url_passwords(text)]
    if (
        action == "ChangeConfiguration"
        and isinstance(payload, dict)
        and _is_key(payload.get("key"), secrets)
    ):
        value = payload.get("value")
        if isinstance(value, str) and value:
            found.append(value)
    if isinstance(payload, dict):
        found += [v for v in _v201_secret_values(action, payload, secrets) if v]
    # Longest first: a secret that holds another is replaced whole.
    return sorted(set(found), key=len, reverse=True)


def redact_request(
    action: str, payload: JsonObject, secrets: frozenset[str], *, urls: bool = True
) -> JsonObject:
    """`payload` as it may be stored or shown: a secret key's (2.0.1: variable's) new or
    reported value, a network profile's passwords and URL passwords replaced (`urls=False`:
    the caller knows the frame holds no URL)."""
    if action == "ChangeConfiguration" and _is_key(payload.get("key"), secrets):
        payload = {**payload, "value": REDACTED}
    if action in VARIABLE_ACTIONS:
        payload = redact_variables(payload, secrets)
    payload = _redact_network_profile(action, payload)
    if not urls:
        return payload
    redacted: JsonObject = redact_urls(payload)
    return redacted


def redact_response(
    payload: Any, secrets: frozenset[str], *, urls: bool = True, action: str | None = None
) -> Any:
    """A CP's answer as it may be stored or shown: secret values of a configuration listing
    (GetConfiguration), of every secret 2.0.1 variable it names (GetVariables) and URL
    passwords replaced. `action`, when known, spares the walk of answers that name no
    variable."""
    if urls:
        payload = redact_urls(payload)
    if not isinstance(payload, dict):
        return payload
    if action is None or action in VARIABLE_ACTIONS:
        payload = redact_variables(payload, secrets)
    listing = payload.get("configurationKey")
    if not isinstance(listing, list):
        return payload
    return {
        **payload,
        "configurationKey": [
            {**item, "value": REDACTED}
            if isinstance(item, dict) and _is_key(item.get("key"), secrets) and "value" in item
            else item
            for item in listing
        ],
    }


def needs_admin(
    action: str,
    payload: Mapping[str, object],
    secrets: frozenset[str],
    admin_keys: frozenset[str] = frozenset(),
) -> bool:
    """True for commands that change how a CP authenticates, what it trusts, whom it lets
    charge or where it connects: security actions, a hand-made local list, a 2.0.1 network
    profile, ChangeConfiguration of a security, authorization, secret or `admin_keys` key,
    and 2.0.1 SetVariables of such a variable."""
    if action in ADMIN_ACTIONS:
        return True
    if action == "SetVariables":
        return any(
            _admin_variable(component, variable, secrets | admin_keys)
            for component, variable in named_variables(payload.get("setVariableData"))
        )
    return action == "ChangeConfiguration" and _is_key(
        payload.get("key"), SECURITY_KEYS | AUTHORIZATION_KEYS | secrets | admin_keys
    )


# --- OCPP 2.0.1: variables of the device model (part 2, appendix 3) and network profiles --

# Components whose every variable decides how the station proves who it is or whom it trusts.
SECURITY_COMPONENTS = frozenset({"securityctrlr"})
# 2.0.1's spelling of the 1.6 AUTHORIZATION_KEYS, and the switches 2.0.1 adds beside them.
AUTHORIZATION_VARIABLES = frozenset(
    {
        ("authctrlr", "enabled"),
        ("authctrlr", "localauthorizeoffline"),
        ("authctrlr", "localpreauthorize"),
        ("authctrlr", "offlinetxforunknownidenabled"),
        ("authctrlr", "disableremoteauthorization"),
        ("authcachectrlr", "enabled"),
        # Where the station connects: the order of its network profiles.
        ("ocppcommctrlr", "networkconfigurationpriority"),
    }
)
# The secrets of a NetworkConnectionProfile (SetNetworkProfile's connectionData), by part.
NETWORK_SECRETS = {"vpn": ("password", "key"), "apn": ("apnPassword", "simPin")}
# Requests whose entries name a component and a variable: the key of the list.
_VARIABLE_LISTS = {"SetVariables": "setVariableData", "GetVariables": "getVariableData"}


def _admin_variable(component: str, variable: str, keys: frozenset[str]) -> bool:
    pair = (key_name(component), key_name(variable))
    return (
        pair[0] in SECURITY_COMPONENTS
        or pair in AUTHORIZATION_VARIABLES
        or secret_variable(component, variable, keys)
    )


def _network_secrets(profile: Any) -> Iterator[tuple[str, str, Any]]:
    """(part, field, value) of each secret a NetworkConnectionProfile holds."""
    for part, fields in NETWORK_SECRETS.items():
        section = profile.get(part) if isinstance(profile, dict) else None
        if isinstance(section, dict):
            yield from ((part, field, section[field]) for field in fields if field in section)


def _v201_secret_values(action: str, payload: JsonObject, secrets: frozenset[str]) -> list[str]:
    if action == "SetVariables":
        entries = payload.get("setVariableData")
        return [
            str(entry.get("attributeValue"))
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict) and secret_entry(entry, secrets)
        ]
    if action == "SetNetworkProfile":
        return [str(v) for _, _, v in _network_secrets(payload.get("connectionData"))]
    return []


def _redact_network_profile(action: str, payload: JsonObject) -> JsonObject:
    profile = payload.get("connectionData")
    if action == "SetNetworkProfile" and isinstance(profile, dict):
        redacted: JsonObject = dict(profile)
        for part, field, _ in _network_secrets(profile):
            section = redacted[part]
            if isinstance(section, dict):  # always: the secrets are fields of an object
                redacted[part] = {**section, field: REDACTED}
        return {**payload, "connectionData": redacted} if redacted != profile else payload
    return payload


def _variable_name_problem(action: str, payload: Mapping[str, object]) -> str | None:
    entries = payload.get(_VARIABLE_LISTS[action])
    for n, entry in enumerate(entries if isinstance(entries, list) else []):
        for part in ("component", "variable"):
            name = variable_name(entry.get(part)) if isinstance(entry, dict) else None
            problem = name is not None and key_problem(name)
            if problem:
                return f"{_VARIABLE_LISTS[action]}.{n}.{part}.name: {name!r} {problem}"
    return None

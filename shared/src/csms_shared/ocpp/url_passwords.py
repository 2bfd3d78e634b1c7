"""Passwords inside URLs (RFC 3986 3.2.1: userinfo = user ":" password), in text and in the
strings of JSON values: found, and replaced by `REDACTED`; and any known secret replaced in a
JSON value's strings (`redact_echo`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

# What a secret is replaced with wherever it is stored, shown or logged.
REDACTED = "<redacted>"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_AUTHORITY_END = frozenset(" \t\r\n/?#\"'<>\\")
_TOKEN_END = frozenset(" \t\r\n\"'<>")


def _password_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where the passwords of the URLs in `text` are: (start, end) of each."""
    for match in _SCHEME.finditer(text):
        start = end = match.end()
        while end < len(text) and text[end] not in _AUTHORITY_END:
            end += 1
        at = text.rfind("@", start, end)
        if at < 0:
            # An unescaped "/" or "?" in a password ends the authority early: look for the "@"
            # in the rest of the URL, unless what precedes the "/" is a port.
            token_end = end
            while token_end < len(text) and text[token_end] not in _TOKEN_END:
                token_end += 1
            at = text.rfind("@", end, token_end)
            colon = text.find(":", start, end)
            if at < 0 or colon < 0 or text[colon + 1 : end].isdigit():
                continue
        colon = text.find(":", start, at)
        if colon >= 0 and colon + 1 < at:
            yield colon + 1, at


def redact_url_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced (`ftp://user:<redacted>@host/`)."""
    if "://" not in text or "@" not in text:
        return text
    parts: list[str] = []
    done = 0
    for start, end in _password_spans(text):
        if start >= done:
            parts += (text[done:start], REDACTED)
            done = end
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def url_passwords(text: str) -> list[str]:
    """The passwords of the URLs in `text`."""
    if "://" not in text or "@" not in text:
        return []
    return [text[start:end] for start, end in _password_spans(text)]


def json_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def map_json_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with `change` applied to every string in it, object keys included (2.0.1's
    `customData` takes any key); the same object where nothing changed (no copy of a payload
    without secrets)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        pairs = [(change(k), map_json_strings(v, change)) for k, v in value.items()]
        same = all(
            k2 == k and v2 is v for (k2, v2), (k, v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)
    if isinstance(value, list):
        new = [map_json_strings(v, change) for v in value]
        return value if all(a is b for a, b in zip(new, value, strict=True)) else new
    return value


def redact_urls(value: Any) -> Any:
    """A JSON value with the password of every URL in its strings replaced."""
    return map_json_strings(value, redact_url_passwords)


def redact_echo(value: Any, carried: list[str], *, urls: bool = True) -> Any:
    """A JSON value (a CP's answer to a command, a CALLERROR's description or details) with
    every secret of `carried` (longest first) replaced wherever the CP repeated it, in any
    string at any depth, and URL passwords besides (unless `urls` is False)."""

    def change(text: str) -> str:
        for secret in carried:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_url_passwords(text) if urls else text

    return map_json_strings(value, change)

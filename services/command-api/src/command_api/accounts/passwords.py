"""Passwords: argon2id hashes (argon2-cffi) and what a password must not be."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
PLACEHOLDERS = frozenset(
    {"changeme", "changethis", "password", "secret", "admin", "example", "letmein", "qwerty"}
)

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile.
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that answer takes as long as a wrong password.
_DUMMY = _hasher.hash("not-a-password-anyone-has")


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` may not be used, or None when it may."""
    folded = password.strip().casefold()
    squeezed = "".join(c for c in folded if c.isalnum())
    # A common word with a few characters around it (`password1234`, `Admin!2026`) is no better.
    if any(p in squeezed and len(squeezed.replace(p, "")) < 8 for p in PLACEHOLDERS):
        return "it is a placeholder or a common password"
    if username and folded == username.casefold():
        return "it is the username"
    if "\x00" in password:
        return "it contains U+0000"
    if len(password) < MIN_LENGTH:
        return f"it has {len(password)} characters; it needs at least {MIN_LENGTH}"
    if len(set(folded)) < 6:
        return "it repeats too few characters"
    if len(password) > 256:
        return "it is longer than 256 characters"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash to store."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a new hash when the stored one uses weaker parameters than today's)."""
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored) else None)

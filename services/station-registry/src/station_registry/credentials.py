"""AuthorizationKeys: stored as argon2id, checked off the event loop, failures bounded per CP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import LRUCache, TTLCache
from prometheus_client import Counter

from .settings import Settings

KEY_CHECKS = Counter(
    "csms_registry_key_checks_total",
    "AuthorizationKey checks at handshakes by outcome",
    ["outcome"],
)


def hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the work factor the settings give (OWASP's by default)."""
    return PasswordHasher(
        time_cost=settings.auth_hash_time_cost,
        memory_cost=settings.auth_hash_memory_kib,
        parallelism=1,
    )


def hash_key(key: str, settings: Settings) -> str:
    """The stored form of an AuthorizationKey (argon2id, random salt)."""
    return hasher(settings).hash(key)


def verify_key(key: str, stored: str, settings: Settings) -> bool:
    """True when `key` matches `stored` (argon2id, or the PBKDF2 form of earlier versions)."""
    if stored.startswith("pbkdf2_sha256$"):
        return _verify_pbkdf2(key, stored)
    try:
        return hasher(settings).verify(stored, key)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, settings: Settings) -> bool:
    """True when `stored` is weaker than what the settings ask for now."""
    if stored.startswith("pbkdf2_sha256$"):
        return True
    try:
        return hasher(settings).check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_pbkdf2(key: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
        candidate = hashlib.pbkdf2_hmac(
            "sha256", key.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(candidate, base64.b64decode(digest))
    except ValueError:
        return False


class Check(Enum):
    """What a key check found."""

    GOOD = "good"
    WRONG = "wrong"
    THROTTLED = "throttled"  # too many failures for this CP id: not checked at all


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class KeyChecker:
    """Checks presented keys against stored hashes, in a thread, remembering outcomes briefly.

    Each stored hash is costly to check on purpose, so the cost of failures is bounded: a key
    that failed is answered from memory for a few seconds, and a CP id that failed too often is
    not checked until its bucket refills, except for a key verified recently (the real CP
    reconnecting is never kept out by someone guessing its key elsewhere).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._good: TTLCache[tuple[str, str, bytes], bool] = TTLCache(
            200_000, max(settings.auth_success_cache_seconds, 1e-3)
        )
        self._bad: TTLCache[tuple[str, str, bytes], bool] = TTLCache(
            100_000, max(settings.auth_failure_cache_seconds, 1e-3)
        )
        self._failures: LRUCache[str, _Bucket] = LRUCache(100_000)
        self._rate = settings.failed_auth_per_minute / 60

    async def check(self, cp_id: str, key: str, stored: list[str]) -> tuple[Check, str | None]:
        """GOOD and the hash it matched when `key` matches one of `stored` (current, staged)."""
        digest = hashlib.sha256(key.encode()).digest()
        keys = [(cp_id, hashed, digest) for hashed in stored]
        for k in keys:
            if k in self._good:
                KEY_CHECKS.labels("cached_good").inc()
                return Check.GOOD, k[1]
        if keys and all(k in self._bad for k in keys):
            KEY_CHECKS.labels("cached_wrong").inc()
            self._spend(cp_id)
            return Check.WRONG, None
        if not self._has_token(cp_id):
            KEY_CHECKS.labels("throttled").inc()
            return Check.THROTTLED, None
        for k in keys:
            if await asyncio.to_thread(verify_key, key, k[1], self._settings):
                if self._settings.auth_success_cache_seconds > 0:
                    self._good[k] = True
                KEY_CHECKS.labels("good").inc()
                return Check.GOOD, k[1]
        for k in keys:
            if self._settings.auth_failure_cache_seconds > 0:
                self._bad[k] = True
        self._spend(cp_id)
        KEY_CHECKS.labels("wrong").inc()
        return Check.WRONG, None

    def _bucket(self, cp_id: str) -> _Bucket:
        now = time.monotonic()
        burst = float(self._settings.failed_auth_burst)
        bucket = self._failures.get(cp_id)
        if bucket is None:
            bucket = self._failures[cp_id] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        return bucket

    def _has_token(self, cp_id: str) -> bool:
        return self._bucket(cp_id).tokens >= 1.0

    def _spend(self, cp_id: str) -> None:
        bucket = self._bucket(cp_id)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


# One checker per settings object, i.e. per registry process (its caches are per process; a
# restart forgets them, which costs one slow check per CP, nothing else).
_CHECKERS: dict[int, KeyChecker] = {}


def checker(settings: Settings) -> KeyChecker:
    """The KeyChecker of this process."""
    found = _CHECKERS.get(id(settings))
    if found is None:
        found = _CHECKERS[id(settings)] = KeyChecker(settings)
    return found

"""Token buckets: per-CP message rates and per-address handshake rates."""

from __future__ import annotations

import time

from cachetools import TTLCache


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend a token; False when none is left."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def empty(self) -> bool:
        """True when no token is there (nothing spent)."""
        now = time.monotonic()
        return min(self.burst, self.tokens + (now - self.stamp) * self.rate) < 1.0

    def retry_after(self) -> float:
        """Seconds until a token is there again."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


class AddressLimiter:
    """A bucket per key (source address, CP id); the least recently used go when it is full."""

    def __init__(self, rate: float, burst: int, max_addresses: int = 65_536) -> None:
        self._rate = rate
        self._burst = burst
        # Idle this long, a bucket is full again, the same as a new one: forgetting it is free.
        self._buckets: TTLCache[str, TokenBucket] = TTLCache(max_addresses, ttl=burst / rate)

    def allow(self, address: str) -> bool:
        """Spend a token of this address."""
        bucket = self._buckets.get(address) or TokenBucket(self._rate, self._burst)
        # Stored again on every use: the TTL counts idle time and the key becomes the newest.
        self._buckets[address] = bucket
        return bucket.take()

    def exhausted(self, key: str) -> bool:
        """True when `key` has no token left (nothing spent)."""
        bucket = self._buckets.get(key)
        return bucket is not None and bucket.empty()

"""The per-address and per-CP handshake limiter."""

from __future__ import annotations

from ws_gateway.limits import AddressLimiter


def test_a_key_is_refused_past_its_burst_and_others_are_not() -> None:
    limiter = AddressLimiter(rate=0.001, burst=2)
    assert limiter.allow("10.0.0.1") and limiter.allow("10.0.0.1")
    assert not limiter.allow("10.0.0.1")
    assert limiter.exhausted("10.0.0.1")
    assert limiter.allow("10.0.0.2")
    assert not limiter.exhausted("10.0.0.2") and not limiter.exhausted("10.0.0.3")


def test_a_full_limiter_keeps_the_newest_keys_state() -> None:
    limiter = AddressLimiter(rate=0.001, burst=1, max_addresses=3)
    for key in ("a", "b", "c"):
        assert limiter.allow(key)
    assert limiter.exhausted("a")
    # "a" used again: it is the newest now, and "b" the least recently used.
    assert not limiter.allow("a")
    assert limiter.allow("d")  # the limiter is full: "b" goes, not every bucket
    assert limiter.exhausted("a") and limiter.exhausted("c") and limiter.exhausted("d")
    assert not limiter.exhausted("b")
    assert not limiter.allow("c") and not limiter.allow("d") and not limiter.allow("a")

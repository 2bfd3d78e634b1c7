"""AuthorizationKey checks: argon2id, checked in a thread, failures bounded per CP id."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from station_registry.credentials import Check, KeyChecker, hash_key, needs_rehash, verify_key
from station_registry.settings import Settings

KEY = "0123456789abcdef0123"


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"auth_hash_memory_kib": 1024, "auth_hash_time_cost": 1}
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def test_keys_are_stored_as_argon2id_and_old_pbkdf2_hashes_still_verify() -> None:
    s = Settings()
    stored = hash_key(KEY, s)
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored  # OWASP's minimum
    assert verify_key(KEY, stored, s) and not verify_key(KEY + "x", stored, s)
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", KEY.encode(), salt, 1000)
    legacy = (
        f"pbkdf2_sha256$1000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )
    assert verify_key(KEY, legacy, s) and not verify_key("wrong-key-0000000", legacy, s)
    assert needs_rehash(legacy, s) and not needs_rehash(stored, s)
    assert not verify_key(KEY, "garbage", s)


async def test_the_check_runs_off_the_event_loop() -> None:
    s = settings(auth_hash_memory_kib=65_536, auth_hash_time_cost=6)
    stored = hash_key(KEY, s)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    ticking = asyncio.create_task(ticker())
    outcome, _ = await KeyChecker(s).check("CP-1", KEY, [stored])
    done.set()
    await ticking
    assert outcome is Check.GOOD
    # The loop kept turning while the key was hashed (blocked, it would have ticked once).
    assert ticks > 3


async def test_failures_are_bounded_per_cp_id_but_a_verified_key_still_gets_in() -> None:
    s = settings(failed_auth_burst=3, failed_auth_per_minute=0.001)
    stored = hash_key(KEY, s)
    checker = KeyChecker(s)
    assert (await checker.check("CP-1", KEY, [stored]))[0] is Check.GOOD
    outcomes = [(await checker.check("CP-1", f"guess-{n:012d}", [stored]))[0] for n in range(5)]
    assert outcomes == [Check.WRONG] * 3 + [Check.THROTTLED] * 2
    # Throttled: a key verified before still passes, another CP id is untouched.
    assert (await checker.check("CP-1", KEY, [stored]))[0] is Check.GOOD
    assert (await checker.check("CP-2", "guess-000000000000", [stored]))[0] is Check.WRONG


async def test_a_repeated_wrong_key_is_answered_from_memory() -> None:
    s = settings(failed_auth_burst=100)
    stored = hash_key(KEY, s)
    checker = KeyChecker(s)
    first = await checker.check("CP-1", "wrong-key-0000000", [stored])
    again = await checker.check("CP-1", "wrong-key-0000000", [stored])
    assert first == again == (Check.WRONG, None)


async def test_a_staged_key_matches_and_says_which_hash_it_matched() -> None:
    s = settings()
    current, staged = hash_key(KEY, s), hash_key("the-new-key-0123456", s)
    checker = KeyChecker(s)
    assert await checker.check("CP-1", "the-new-key-0123456", [current, staged]) == (
        Check.GOOD,
        staged,
    )

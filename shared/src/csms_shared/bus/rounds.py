"""Rounds: a set-based batch handler's calls split so that no two of a round touch one row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def rounds(items: list[T], keys: Callable[[T], Iterable[Hashable]]) -> list[list[T]]:
    """`items` in rounds that share no key, in order: each item goes to the first round after
    every earlier item it shares a key with.

    A batch handler writes a round in one statement; items that touch the same row (the same
    charge point, idTag, transaction) land in later rounds, which then see what the earlier
    ones wrote, as if the calls had come one after the other.
    """
    result: list[list[T]] = []
    last_round: dict[Hashable, int] = {}
    for item in items:
        item_keys = list(keys(item))
        n = max((last_round[k] + 1 for k in item_keys if k in last_round), default=0)
        if n == len(result):
            result.append([])
        result[n].append(item)
        for k in item_keys:
            last_round[k] = n
    return result


async def in_rounds(
    items: list[T],
    keys: Callable[[T], Iterable[Hashable]],
    handle: Callable[[list[T]], Awaitable[list[R]]],
) -> list[R]:
    """`handle` each of the `rounds` of `items` in turn; its results in the items' order."""
    indexed = list(enumerate(items))
    results: dict[int, R] = {}
    for group in rounds(indexed, lambda pair: keys(pair[1])):
        answers = await handle([item for _, item in group])
        results.update(zip((n for n, _ in group), answers, strict=True))
    return [results[n] for n in range(len(items))]

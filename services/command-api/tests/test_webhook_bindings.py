"""The event queue's binding keys from webhooks' shell-style patterns."""

from __future__ import annotations

import fnmatch

import pytest

from command_api.webhook_store import binding_keys

EVENTS = [
    "transaction.started",
    "transaction.stopped",
    "command.completed",
    "connector.status",
    "meter.values",
    "station.booted",
    "webhook.disabled",
]


def _topic_matches(key: str, event: str) -> bool:
    """AMQP topic matching of one binding key (`*` one word, `#` zero or more)."""

    def match(words: list[str], parts: list[str]) -> bool:
        if not words:
            return not parts
        if words[0] == "#":
            return any(match(words[1:], parts[n:]) for n in range(len(parts) + 1))
        if not parts:
            return False
        return (words[0] in ("*", parts[0])) and match(words[1:], parts[1:])

    return match(key.split("."), event.split("."))


@pytest.mark.parametrize(
    ("patterns", "keys"),
    [
        ([], set()),
        (["transaction.*"], {"transaction.#"}),
        (["command.completed"], {"command.completed"}),
        (["command.completed", "transaction.st*"], {"command.completed", "transaction.#"}),
        (["*"], {"#"}),
        (["*.started", "command.completed"], {"#"}),
        (["connector.?tatus"], {"connector.#"}),
    ],
)
def test_binding_keys(patterns: list[str], keys: set[str]) -> None:
    assert binding_keys(patterns) == keys


@pytest.mark.parametrize(
    "patterns",
    [["transaction.*"], ["*"], ["c*"], ["command.completed", "meter.*"], ["*.status"], ["x.y"]],
)
def test_the_keys_bring_every_event_a_pattern_matches(patterns: list[str]) -> None:
    keys = binding_keys(patterns)
    for event in EVENTS:
        if any(fnmatch.fnmatchcase(event, p) for p in patterns):
            assert any(_topic_matches(k, event) for k in keys), (patterns, event)


def test_a_transaction_webhook_is_not_sent_meter_values() -> None:
    keys = binding_keys(["transaction.*"])
    assert not any(_topic_matches(k, "meter.values") for k in keys)

"""What a broker user may do, as RabbitMQ's permissions say it: a Grant, and the regexes it is
written with (access.py for the suite's roles, back_offices.py for back offices)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

NOTHING = "^$"  # no exchange or queue has an empty name, no event an empty key


def one_of(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def literal(name: str) -> str:
    return re.escape(name)


@dataclass(frozen=True, slots=True)
class Grant:
    """One role's permissions in a vhost: resource regexes and per-exchange topic regexes."""

    configure: str
    write: str
    read: str
    # exchange -> (write, read) routing-key regexes; set wherever the role may write or read a
    # topic exchange, since a user without topic permissions there may use any key.
    topics: Mapping[str, tuple[str, str]] = field(default_factory=dict)

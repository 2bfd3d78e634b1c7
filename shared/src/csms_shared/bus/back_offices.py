"""Back offices' own broker users (`API_BACK_OFFICES`): their roles, checked names, and what
each may do on the broker."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .grants import NOTHING, Grant, literal, one_of
from .topology import COMMAND_REQUESTS, EVENTS

# What a back office's own broker user may do through command-api (`API_BACK_OFFICES`): a
# viewer reads events only; an operator and an admin also send commands, held to that role.
BACK_OFFICE_ROLES = ("viewer", "operator", "admin")
_BACK_OFFICE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def check_back_offices(back_offices: Mapping[str, str]) -> dict[str, str]:
    """`back_offices` (broker user -> role) as a dict; ValueError naming a bad user or role."""
    for user, role in back_offices.items():
        if not _BACK_OFFICE_NAME.match(user):
            raise ValueError(
                f"back office user {user!r}: lower-case letters, digits, '.', '_' and '-'"
            )
        if role not in BACK_OFFICE_ROLES:
            raise ValueError(
                f"back office {user!r}: role {role!r} is not one of {list(BACK_OFFICE_ROLES)}"
            )
    return dict(back_offices)


def back_office_grant(user: str, role: str) -> Grant:
    """A back office's own broker user: its own `<user>.*` queues, events in, and commands out
    unless it is a viewer."""
    own = literal(user) + r"\..+"
    sends = role != BACK_OFFICE_ROLES[0]
    return Grant(
        configure=one_of(own),
        write=one_of(*([literal(COMMAND_REQUESTS.name)] if sends else []), own),
        read=one_of(literal(EVENTS.name), own),
        topics={EVENTS.name: (NOTHING, ".*")},
    )

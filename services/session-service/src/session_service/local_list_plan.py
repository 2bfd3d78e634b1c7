"""What a CP's Local Authorization List should hold, and the difference from what it holds
(OCPP 1.6, 5.15 and 3.5; 2.0.1 D01): the rules `build_local_list` applies to what it read.
Tokens are compared without case, as a station compares them (1.6 CiString, 2.0.1 IdToken)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from csms_shared.ocpp.version import OcppVersion
from csms_shared.vocabulary import IdToken
from csms_shared.vocabulary.local_lists import ListEntry
from csms_shared.vocabulary.tokens import V16_TOKEN_TYPE, IdTokenType

# Status, expiry, group, token type (None: kept before types were): what a diff compares.
Held = tuple[str, datetime | None, str | None, str | None]


def held(entry: ListEntry) -> Held:
    """What the CP's list keeps of an entry it accepted."""
    assert entry.decision is not None
    group = entry.group.value if entry.group else None
    return (entry.decision.value, entry.expiry, group, entry.token.type.value)


def _removal(spelling: str, kept: Held) -> ListEntry:
    """The entry that removes a held token: its value and the type it was sent with (a 2.0.1
    station removes by both); a row kept before types were stored says none, and 1.6's
    (ISO14443, what an idTag is) is sent."""
    kind = kept[3]
    return ListEntry(
        token=IdToken(value=spelling, type=IdTokenType(kind) if kind else V16_TOKEN_TYPE)
    )


@dataclass(frozen=True)
class Desired:
    """The entries the CP's list should hold, by lower-cased token, in the order sent; and how
    many the CP's version cannot hold."""

    entries: dict[str, ListEntry]
    left_out: int


def desired(
    listed: Sequence[ListEntry], roaming: Sequence[ListEntry], version: OcppVersion
) -> Desired:
    """The operator's entries, then the roaming tokens none of them names (the list wins, as
    in the decision, even over an entry the CP cannot hold); a 1.6 CP's without what it cannot
    hold (over 20 characters, or in such a group)."""
    named = {entry.token.value.lower() for entry in listed}
    wanted = [*listed, *(entry for entry in roaming if entry.token.value.lower() not in named)]
    fits = [e for e in wanted if version is not OcppVersion.V16 or e.fits_v16()]
    return Desired({e.token.value.lower(): e for e in fits}, left_out=len(wanted) - len(fits))


def difference(
    wanted: Mapping[str, ListEntry], holds: Mapping[str, tuple[str, Held]], version: OcppVersion
) -> list[ListEntry]:
    """A Differential from what the CP holds (by lower-cased token: its spelling and `Held`)
    to `wanted`: the entries added or changed, then those no longer wanted, without
    idTagInfo, which removes them (1.6, 5.15; 2.0.1 D01). A token held in another case is the
    same. A 1.6 idTag has no type, so a 1.6 CP's entries are compared without it; a 2.0.1
    station keys its entries by value and type, so a token held under another type is removed
    under that one just before it is sent under its new one."""
    typed = version is not OcppVersion.V16
    entries: list[ListEntry] = []
    for key, entry in wanted.items():
        found = holds.get(key)
        now = held(entry)
        if found is None:
            entries.append(entry)
            continue
        spelling, kept = found
        if typed and kept[3] is not None and kept[3] != now[3]:
            entries += [_removal(spelling, kept), entry]
        elif kept[:3] != now[:3] or (typed and kept[3] != now[3]):
            entries.append(entry)
    gone = [_removal(*holds[key]) for key in sorted(holds) if key not in wanted]
    return entries + gone

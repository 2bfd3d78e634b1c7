"""Authorization decisions: what an id token earns, in our terms (pure logic, no I/O).

The decision is the vocabulary's `AuthorizationDecision` (both versions' statuses): a token the
list does not hold is Unknown whatever the station speaks, and each version's handler spells it
at the edge (`Authorization.to_v16`: Unknown is Invalid there; `id_tokens.token_info` for
2.0.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from csms_shared.ocpp.v16.datatypes import IdTagInfo
from csms_shared.vocabulary import AuthorizationDecision
from csms_shared.vocabulary.authorization import id_tag_info as id_tag_info_v16

from .settings import UnknownIdTagPolicy

D = AuthorizationDecision
# The statuses an operator may store on a tag; ConcurrentTx is only ever decided per request.
STORED_STATUSES = frozenset({D.ACCEPTED, D.BLOCKED, D.EXPIRED, D.INVALID})


@dataclass(frozen=True, slots=True)
class IdTagRecord:
    """An entry of the authorization list, with the stored status of its parent (group) tag."""

    id_tag: str
    status: AuthorizationDecision
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    max_concurrent_tx: int | None = None
    parent_status: AuthorizationDecision | None = None
    # The 2.0.1 idToken types it and its parent are presented as (id_tokens.py).
    type: str = "ISO14443"
    parent_type: str | None = None
    # OCPP 2.0.1 chargingPriority, -9..9: told to 2.0.1 stations, and a site's allocator adds
    # it to the station's priority.
    charging_priority: int = 0
    # The eMSP (CC-PID) whose token an entry stands for (roaming_tokens.py); None: the list's.
    roaming_party: str | None = None


def token_source(tag: IdTagRecord | None) -> tuple[str, str | None]:
    """Where a decision's entry came from, and its eMSP: `list`, `roaming` (with the eMSP),
    or `none` (no entry)."""
    if tag is None:
        return "none", None
    if tag.roaming_party is not None:
        return "roaming", tag.roaming_party
    return "list", None


def charging_priority(tag: IdTagRecord | None) -> int:
    """The chargingPriority a start with list entry `tag` runs at (0: not on the list)."""
    return 0 if tag is None else tag.charging_priority


def same_id_tag(a: str | None, b: str | None) -> bool:
    """IdToken is a CiString20: compared without regard to case."""
    return a is not None and b is not None and a.lower() == b.lower()


def reservation_admits(
    reserved_id_tag: str, reserved_parent: str | None, id_tag: str, parent_id_tag: str | None
) -> bool:
    """A reservation is for its idTag, and for every tag of its parentIdTag's group."""
    return same_id_tag(reserved_id_tag, id_tag) or same_id_tag(reserved_parent, parent_id_tag)


def charge_point_fully_reserved(reserved_for_others: int, known_connectors: int) -> bool:
    """Authorize carries no connector: refuse only when every connector is held for others."""
    return reserved_for_others >= max(known_connectors, 1)


@dataclass(frozen=True, slots=True)
class Authorization:
    """What a token earns: the decision, the entry's expiry and group (its parent id tag)."""

    decision: AuthorizationDecision
    expiry: datetime | None = None
    group: str | None = None

    def to_v16(self) -> IdTagInfo:
        """As a 1.6 idTagInfo: a decision 1.6 has no word for (Unknown, NoCredit, ...) is
        Invalid."""
        return id_tag_info_v16(self.decision, self.expiry, self.group)


def id_tag_info(
    tag: IdTagRecord | None,
    *,
    at: datetime,
    unknown: UnknownIdTagPolicy,
    active_transactions: int = 0,
    reserved_for_other: bool = False,
) -> Authorization:
    """What `tag` earns at time `at` (None: the list does not hold it: Unknown, unless the
    policy accepts unknown tokens)."""
    if tag is None:
        accepted = unknown is UnknownIdTagPolicy.ACCEPT and not reserved_for_other
        if accepted:
            return Authorization(D.ACCEPTED)
        # Reserved for another: refused here without claiming the token is unknown.
        return Authorization(D.INVALID if unknown is UnknownIdTagPolicy.ACCEPT else D.UNKNOWN)
    status = tag.status
    if status is D.ACCEPTED:
        if tag.expiry_date is not None and tag.expiry_date <= at:
            status = D.EXPIRED
        elif tag.parent_status is D.BLOCKED:
            # A blocked group blocks its members.
            status = D.BLOCKED
        elif reserved_for_other:
            # Neither version has a "Reserved" status; Invalid refuses this tag here without
            # claiming that the tag itself is blocked or expired.
            status = D.INVALID
        elif tag.max_concurrent_tx is not None and active_transactions >= tag.max_concurrent_tx:
            status = D.CONCURRENT_TX
    return Authorization(status, tag.expiry_date, tag.parent_id_tag)


def counts_open_transactions(tag: IdTagRecord | None) -> bool:
    """Whether the tag's open transactions matter: only a tag with a limit has them counted."""
    return tag is not None and tag.max_concurrent_tx is not None


def authorize_info(
    tag: IdTagRecord | None,
    *,
    at: datetime,
    unknown: UnknownIdTagPolicy,
    held_for_others: int,
    ours: bool,
    known_connectors: int,
    active_transactions: int = 0,
) -> Authorization:
    """Authorize's decision: a reservation refuses the tag only when every connector of the
    CP is held for other tags and none for this one (Authorize names no connector)."""
    fully_reserved = (
        held_for_others > 0
        and not ours
        and charge_point_fully_reserved(held_for_others, known_connectors)
    )
    return id_tag_info(
        tag,
        at=at,
        unknown=unknown,
        active_transactions=active_transactions,
        reserved_for_other=fully_reserved,
    )


def stop_info(
    id_tag: str | None, tag: IdTagRecord | None, *, at: datetime, unknown: UnknownIdTagPolicy
) -> Authorization | None:
    """StopTransaction's decision: only when it names an idTag, judged as the list has it (no
    open transaction counted against its limit, no reservation weighed)."""
    if id_tag is None:
        return None
    return id_tag_info(tag, at=at, unknown=unknown)


def resent_start_info(stored_status: str, decided: Authorization) -> Authorization:
    """A re-sent start gets the decision its transaction was opened with (stored in our
    terms; a row kept before them holds a 1.6 status, which is one of ours)."""
    return Authorization(AuthorizationDecision(stored_status), decided.expiry, decided.group)

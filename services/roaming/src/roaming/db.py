"""Schema `roaming`: the OCPI platforms this CPO is connected to (credentials both ways, the
version and endpoints agreed) and the roles (country code, party id) each plays."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    func,
    text,
)

from csms_shared.bus.outbox import outbox_table

SCHEMA = "roaming"
metadata = MetaData(schema=SCHEMA)


def _ts(name: str, **kw: object) -> Column[object]:
    return Column(name, DateTime(timezone=True), **kw)  # type: ignore[arg-type]


# One OCPI connection: an eMSP's or hub's platform. `state`: `invited` (we handed it token A,
# it has not registered), `registered`, `unregistered` (either side ended it; kept for the
# record), `registering` (we are registering with it: it may call our versions and credentials
# with the token we are handing it). Tokens we issued are kept as SHA-256 digests only (they are
# random, 256 bits): the one the platform calls us with now (`token_hash`) and, while we hand it
# a new one (rotation), that one too (`pending_token_hash`). The token we call it with
# (`their_token`) must be sent, so it is kept as given.
platforms = Table(
    "platforms",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("token_hash", String(64)),
    Column("pending_token_hash", String(64)),
    Column("their_token", String(64)),
    Column("versions_url", String(255)),
    Column("version", String(8)),
    # The platform's endpoints of that version: [{identifier, role, url}].
    Column("endpoints", JSON),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("registered_at"),
    _ts("updated_at", nullable=False, server_default=func.now()),
    _ts("unregistered_at"),
    Column("unregistered_by", String(8)),  # us, them
    Index(
        "platforms_token_hash",
        "token_hash",
        unique=True,
        postgresql_where=text("token_hash IS NOT NULL"),
    ),
    Index(
        "platforms_pending_token_hash",
        "pending_token_hash",
        unique=True,
        postgresql_where=text("pending_token_hash IS NOT NULL"),
    ),
)

# The roles a registered platform plays (credentials' `roles`): an eMSP, a hub, ... by country
# code and party id, stored upper-case (they are case-insensitive). A role belongs to one live
# platform at a time.
platform_roles = Table(
    "platform_roles",
    metadata,
    Column(
        "platform_id",
        String(36),
        ForeignKey("platforms.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("role", String(8), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("party_id", String(3), nullable=False),
    Column("business_details", JSON, nullable=False),
    Index("platform_roles_party", "country_code", "party_id", "role", unique=True),
    Index("platform_roles_platform", "platform_id"),
)

# The tokens eMSPs pushed (OCPI tokens, receiver): the Token as stored (`document`, OCPI's JSON),
# keyed by its owner (country code, party id), uid and type, all compared without case (stored
# upper-case in the key; `document` keeps the case sent). `platform_id`: the platform that
# pushed it last. The newest `last_updated` wins: an older push changes nothing.
tokens = Table(
    "tokens",
    metadata,
    Column("country_code", String(2), primary_key=True),
    Column("party_id", String(3), primary_key=True),
    Column("uid", String(36), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("platform_id", String(36), ForeignKey("platforms.id"), nullable=False),
    Column("contract_id", String(36), nullable=False),
    Column("group_id", String(36)),
    Column("valid", Boolean, nullable=False),
    Column("whitelist", String(16), nullable=False),
    Column("document", JSON, nullable=False),
    _ts("last_updated", nullable=False),
    _ts("received_at", nullable=False, server_default=func.now()),
    Index("tokens_contract_id", "contract_id"),
    Index("tokens_platform", "platform_id"),
)

# The events it publishes (roaming.token_changed), written in the transaction of their change.
outbox = outbox_table(metadata)

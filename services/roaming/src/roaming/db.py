"""Schema `roaming`: the OCPI platforms this CPO is connected to (credentials both ways, the
version and endpoints agreed) and the roles (country code, party id) each plays."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
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
    Index("tokens_uid", "uid"),  # a transaction's id token, whoever owns it
    Index("tokens_platform", "platform_id"),
)

# Real-time authorizations (OCPI tokens, `POST {emsp}/tokens/{uid}/authorize`): each time a
# station presented a token whose whitelist asks for one, what its eMSP answered (`allowed`
# NULL: no answer, `reason` says why). An ALLOWED is told again to the same token at the same
# station for ROAMING_AUTHORIZATION_REUSE seconds (the StartTransaction after an Authorize), and
# a Session of the token started at that station then is AUTH_REQUEST with its reference.
authorizations = Table(
    "authorizations",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("platform_id", String(36), ForeignKey("platforms.id", ondelete="CASCADE")),
    Column("country_code", String(2), nullable=False),
    Column("party_id", String(3), nullable=False),
    Column("uid", String(36), nullable=False),
    Column("type", String(16), nullable=False),
    Column("charge_point_id", String(48), nullable=False),
    Column("location_id", String(36)),
    Column("allowed", String(16)),
    Column("authorization_reference", String(36)),
    Column("reason", String(300)),
    _ts("asked_at", nullable=False),
    Index("authorizations_token_station", "uid", "charge_point_id", "asked_at"),
    Index("authorizations_asked", "asked_at"),
)

# The locations this CPO publishes (OCPI locations, sender): one per site, keyed by its id in
# upper case (ids compare without case; `id` keeps the case given), with the operator's
# settings as given (`settings`: the API's LocationSettings, camelCase JSON).
# `updated_at`: when the settings last changed (the Location's and its EVSEs' `last_updated`
# unless a status changed since).
locations = Table(
    "locations",
    metadata,
    Column("key", String(36), primary_key=True),
    Column("id", String(36), nullable=False),
    Column("settings", JSON, nullable=False),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("updated_at", nullable=False),
    # The Location's `last_updated`: the newest of `updated_at` and its EVSEs' `status_at`.
    _ts("last_updated", nullable=False),
    Index("locations_last_updated", "last_updated"),
)

# The EVSEs of each location: which station's EVSE each is, and the OCPI status last published
# for it (`status`, since `status_at`). An EVSE the operator took out stays, REMOVED
# (`removed_at`), as OCPI wants; a station's EVSE is in one location at a time.
location_evses = Table(
    "location_evses",
    metadata,
    Column(
        "location_key",
        String(36),
        ForeignKey("locations.key", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("uid_key", String(36), primary_key=True),
    Column("uid", String(36), nullable=False),
    Column("charge_point_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    # The API's LocationEvse as given (kept for a removed EVSE, which OCPI still lists).
    Column("settings", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    _ts("status_at", nullable=False),
    _ts("removed_at"),
    Index(
        "location_evses_station",
        "charge_point_id",
        "evse_id",
        unique=True,
        postgresql_where=text("removed_at IS NULL"),
    ),
)

# What the stations said of their connectors (connector.status, in our vocabulary) and whether
# they are connected: the EVSEs' OCPI status is derived from these.
station_connectors = Table(
    "station_connectors",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    _ts("at", nullable=False),
)
station_presence = Table(
    "station_presence",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("online", Boolean, nullable=False),
    Column("connection_id", String(64)),
    Column("ocpp_version", String(8)),  # "1.6" or "2.0.1", as its connection agreed
    _ts("at", nullable=False),
)

# Pushes to the platforms' receiver interfaces (the outbox of OCPI): each is tried until the
# platform took it, in order per platform and object (`object_key`: a later push of the same
# object waits for the earlier ones), retried with a growing delay; one the platform cannot
# take any more (it unregistered, or it no longer has the module), or refused for good
# ROAMING_PUSH_MAX_REFUSALS times in a row (a 4xx or an OCPI 2xxx), is dropped with the reason.
# Delivered and dropped rows stay as the push log until ROAMING_PUSH_LOG_RETENTION_DAYS.
pushes = Table(
    "pushes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "platform_id",
        String(36),
        ForeignKey("platforms.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("module", String(24), nullable=False),
    Column("object_key", String(100), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(255), nullable=False),
    Column("body", JSON, nullable=False),
    # The party it is for (OCPI-to-*): a session's, CDR's or command's owner, routed by a hub;
    # none for a broadcast (a Location: to the platform, a hub's own party).
    Column("to_country_code", String(2)),
    Column("to_party_id", String(3)),
    _ts("created_at", nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at", nullable=False, server_default=func.now()),
    _ts("leased_until"),
    _ts("last_attempt_at"),
    Column("last_error", String(500)),
    _ts("delivered_at"),
    _ts("dropped_at"),
    Column("dropped_why", String(200)),
    Index(
        "pushes_pending",
        "platform_id",
        "object_key",
        "id",
        postgresql_where=text("delivered_at IS NULL AND dropped_at IS NULL"),
    ),
    Index("pushes_created", "created_at"),
)

# The sessions of transactions started with a roaming token (OCPI sessions, sender): one per
# transaction, owned by the token's eMSP (`country_code`, `party_id`, the platform that pushed
# the token), with the token and the place (location, EVSE, connector as published at the
# start) it is told about, and the Session as last pushed (`document`).
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("transaction_id", BigInteger, nullable=False, unique=True),
    # The station, and its id of the transaction and version (a StopSession names them).
    Column("charge_point_id", String(48), nullable=False),
    Column("station_transaction_id", String(36), nullable=False),
    Column("ocpp_version", String(8), nullable=False),
    Column("meter_start", BigInteger, nullable=False),  # Wh: kWh while it runs are from here
    Column("platform_id", String(36), ForeignKey("platforms.id"), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("party_id", String(3), nullable=False),
    Column("token", JSON, nullable=False),
    Column("place", JSON, nullable=False),
    # WHITELIST, or COMMAND for one an eMSP's START_SESSION started (and its reference).
    Column("auth_method", String(16), nullable=False),
    Column("authorization_reference", String(36)),
    Column("status", String(16), nullable=False),
    Column("document", JSON, nullable=False),
    _ts("last_updated", nullable=False),
    Index("sessions_owner", "country_code", "party_id", "last_updated"),
    Index("sessions_last_updated", "last_updated"),
)

# The CDRs of ended roaming sessions (OCPI cdrs, sender): written once, never changed (the id
# is the session's; a retried POST sends the same document).
cdrs = Table(
    "cdrs",
    metadata,
    Column("id", String(39), primary_key=True),
    Column("session_id", String(36), nullable=False),
    Column("platform_id", String(36), ForeignKey("platforms.id"), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("party_id", String(3), nullable=False),
    Column("document", JSON, nullable=False),
    _ts("last_updated", nullable=False),
    Index("cdrs_owner", "country_code", "party_id", "last_updated"),
    Index("cdrs_last_updated", "last_updated"),
)

# The commands eMSPs sent (OCPI commands, receiver): what was asked (`body`, the OCPI command as
# received), of which station, as which OCPP action (`action`, `payload`: the station's
# version's), and its outcome once command-api published it (`result`, POSTed to
# `response_url` through the push outbox). `number`: the integer OCPP wants for a remote start
# (2.0.1 remoteStartId) or a reservation id, from a range of its own (above 10^9).
commands = Table(
    "commands",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", BigInteger, Identity(start=1_000_000_001), nullable=False, unique=True),
    Column("platform_id", String(36), ForeignKey("platforms.id"), nullable=False),
    Column("country_code", String(2), nullable=False),
    Column("party_id", String(3), nullable=False),
    Column("command", String(24), nullable=False),
    Column("body", JSON, nullable=False),
    Column("charge_point_id", String(48), nullable=False),
    Column("evse_id", Integer),
    Column("token_uid", String(36)),
    Column("reservation_id", String(36)),  # the eMSP's (RESERVE_NOW, CANCEL_RESERVATION)
    Column("action", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("response_url", String(255), nullable=False),
    Column("result", String(24)),
    _ts("created_at", nullable=False, server_default=func.now()),
    _ts("answered_at"),
    Index("commands_starts", "charge_point_id", "token_uid", "created_at"),
    Index("commands_reservations", "country_code", "party_id", "reservation_id"),
)

# The command requests it sends command-api (`ocpp.command-requests`), written in the
# transaction of the command and relayed after its commit (mandatory: an unroutable one stays).
command_outbox = Table(
    "command_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("routing_key", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    _ts("created_at", nullable=False, server_default=func.now()),
)

# Every OCPI request a platform made (ROAMING_REQUEST_LOG_RETENTION_DAYS): who, what, how it was
# answered; the body as sent with any credentials token replaced by "***".
requests = Table(
    "requests",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _ts("at", nullable=False),
    Column("platform_id", String(36)),
    Column("method", String(8), nullable=False),
    Column("path", String(500), nullable=False),
    Column("http_status", Integer, nullable=False),
    Column("ocpi_status", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("request_id", String(100)),
    Column("correlation_id", String(100)),
    Column("from_party", String(6)),
    Column("body", JSON),
    Index("requests_at", "at"),
    Index("requests_platform", "platform_id", "at"),
)

# The suite's tariffs as OCPI publishes them (OCPI tariffs, sender), followed from the
# session-service's `tariff.changed`: `id` the OCPI id (`T<tariff id>`), `document` the Tariff;
# a deleted one is kept (`deleted_at`) until the platforms were told (DELETE).
tariffs = Table(
    "tariffs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tariff_id", BigInteger, nullable=False, unique=True),
    Column("document", JSON),
    _ts("last_updated", nullable=False),
    _ts("deleted_at"),
    Index("tariffs_last_updated", "last_updated"),
)

# The events it publishes (roaming.token_changed), written in the transaction of their change.
outbox = outbox_table(metadata)

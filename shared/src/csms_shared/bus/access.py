"""Who may do what on the broker: a user per role, its permissions derived from the topology."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import TypedDict

from yarl import URL

from ..ocpp.version import OcppVersion
from .back_offices import back_office_grant
from .grants import NOTHING, Grant, literal, one_of
from .stations import STATION_SUFFIX_REGEX
from .topology import (
    CALLS,
    COMMAND_REQUESTS,
    COMMANDS,
    CONTROL,
    DECISIONS,
    EVENTS,
    EXCHANGES,
    MESSAGE_LOG,
    OCPP_VERSION_PREFIXES,
    OWNERS,
    call_routing_key,
)

GATEWAY = "gateway"
REGISTRY = "station-registry"
SESSIONS = "session-service"
COMMAND_API = "command-api"
# Back offices: readers of ocpp.events, each with its own queues, and the only publishers of
# ocpp.command-requests (command-api runs what they send there, as its REST routes would).
MESSAGE_LOG_WRITER = "message-log"
LOAD_MANAGER = "load-manager"
ROAMING = "roaming"
INTEGRATIONS = "integrations"
ROLES = (
    GATEWAY,
    REGISTRY,
    SESSIONS,
    COMMAND_API,
    MESSAGE_LOG_WRITER,
    LOAD_MANAGER,
    ROAMING,
    INTEGRATIONS,
)

# The default exchange, as permissions name it: replies and RPC queries go through it.
DEFAULT_EXCHANGE = "amq.default"
# Unnamed queues (RPC clients' reply queues): aio-pika names them `amq_<hex>`, the broker
# `amq.gen-…`.
SERVER_NAMED = r"amq_[0-9a-f]+|amq\.gen-.+"


def _events(*patterns: str) -> str:
    """The event keys a role may publish: `patterns`, each also with its station's suffix (the
    BCC key of bus/stations.py, which RabbitMQ 4 checks as it does the routing key)."""
    return "^(" + "|".join(patterns) + ")" + STATION_SUFFIX_REGEX + "$"


_DECLARED = [literal(ex.name) for ex in EXCHANGES]  # every process declares the topology
_CALL_KEYS = one_of(*(literal(prefix) + r"\..+" for prefix in OCPP_VERSION_PREFIXES.values()))
# The calls the load-manager receives (`load_manager.action_reports`).
_LOAD_MANAGER_CALLS = one_of(literal(call_routing_key("ReportChargingProfiles", OcppVersion.V201)))
# The dead-letter queues of the DB-backed services' durable queues (topology.quorum_arguments).
_DEAD_LETTERS = [literal(s) + r"\.(calls|decisions|events)\.dead" for s in (REGISTRY, SESSIONS)]


def _service(
    name: str,
    events_written: str,
    *,
    rpc_client: bool = False,
    reads: tuple[str, ...] = (),
    configures: tuple[str, ...] = (),
    owns_calls: bool = True,
) -> Grant:
    """A DB-backed service: its own `<name>.*` queues, calls in (and bundle items re-sent);
    `configures`: other resources it may declare passively; `owns_calls`: it consumes OCPP
    calls, so it sends owner beacons."""
    own = [literal(name) + r"\..+"] + ([SERVER_NAMED] if rpc_client else [])
    return Grant(
        configure=one_of(*_DECLARED, *own, *configures),
        # ocpp.owners: its owner beacons, when it consumes OCPP calls (bus/owners.py).
        write=one_of(
            literal(CALLS.name),
            literal(EVENTS.name),
            *([literal(OWNERS.name)] if owns_calls else []),
            literal(DEFAULT_EXCHANGE),
            *own,
        ),
        read=one_of(
            literal(CALLS.name),
            literal(DECISIONS.name),
            literal(EVENTS.name),
            *map(literal, reads),
            *own,
        ),
        topics={
            CALLS.name: (_CALL_KEYS, _CALL_KEYS),
            DECISIONS.name: (NOTHING, _CALL_KEYS),
            EVENTS.name: (events_written, ".*"),
        },
    )


# The registry's presence sweep asks whether a gateway's queue `gateway.<id>` still exists with
# a passive queue.declare: 405 RESOURCE_LOCKED while the gateway's connection holds it, 404 once
# it is gone. RabbitMQ 3.x checks that against no permission; 4.x wants `configure` on the
# queue's name, so the registry holds configure on `gateway.*`. It cannot use it to harm a live
# gateway: the queue is exclusive to the gateway's connection, and any other connection's
# declare, delete or purge of it is refused (tests/integration/test_broker_users.py).
GRANTS: dict[str, Grant] = {
    GATEWAY: Grant(
        configure=one_of(*_DECLARED, r"gateway\..+", SERVER_NAMED),
        write=one_of(
            literal(CALLS.name),
            literal(DECISIONS.name),
            literal(EVENTS.name),
            literal(CONTROL.name),
            literal(MESSAGE_LOG.name),
            literal(DEFAULT_EXCHANGE),
            r"gateway\..+",
            SERVER_NAMED,
        ),
        read=one_of(
            literal(COMMANDS.name),
            literal(CONTROL.name),
            literal(EVENTS.name),
            literal(OWNERS.name),
            r"gateway\..+",
            SERVER_NAMED,
        ),
        topics={
            CALLS.name: (_CALL_KEYS, NOTHING),
            DECISIONS.name: (_CALL_KEYS, NOTHING),
            EVENTS.name: (
                _events(r"station\.(connected|disconnected|seen)", r"gateway\..+"),
                one_of(r"station\.credentials_changed", r"message_log\.level_changed"),
            ),
        },
    ),
    REGISTRY: _service(
        REGISTRY,
        _events(
            r"station\.(booted|credentials_changed)",
            r"connector\..+",
            r"certificate\..+",
            r"datatransfer\..+",
            r"security\..+",
            r"(diagnostics|firmware|signed\.firmware|log)\.status",
        ),
        configures=(r"gateway\..+",),
    ),
    # id_tag.changed (local lists), session.warning (the system log), tariff.changed (roaming
    # publishes the tariffs) besides its own facts.
    # It asks the roaming service's RPC (real-time authorization of an eMSP's token).
    SESSIONS: _service(
        SESSIONS,
        _events(r"transaction\..+", r"meter\..+", r"id_tag\..+", r"session\..+", r"tariff\..+"),
        rpc_client=True,
    ),
    # Binds its records queue to the gateways' `ocpp.log`; tells gateways of level overrides.
    MESSAGE_LOG_WRITER: _service(
        MESSAGE_LOG_WRITER,
        _events(r"message_log\..+"),
        reads=(MESSAGE_LOG.name,),
        owns_calls=False,
    ),
    # Answers its RPC queries, follows events, publishes `site.*` ones and `security.event`
    # (a station's implausible readings), and sends charging profiles through the command path
    # (ocpp.command-requests, as a back office does), so command-api audits them; it sends no
    # OCPP call. It receives one: 2.0.1 ReportChargingProfiles (the answer to its
    # GetChargingProfiles), beside the registry, and publishes a failed bundle item of it again
    # alone.
    LOAD_MANAGER: Grant(
        configure=one_of(*_DECLARED, r"load-manager\..+", SERVER_NAMED),
        write=one_of(
            literal(CALLS.name),
            literal(EVENTS.name),
            literal(COMMAND_REQUESTS.name),
            literal(OWNERS.name),
            literal(DEFAULT_EXCHANGE),
            r"load-manager\..+",
            SERVER_NAMED,
        ),
        read=one_of(
            literal(CALLS.name),
            literal(DECISIONS.name),
            literal(EVENTS.name),
            r"load-manager\..+",
            SERVER_NAMED,
        ),
        topics={
            CALLS.name: (_LOAD_MANAGER_CALLS, _LOAD_MANAGER_CALLS),
            DECISIONS.name: (NOTHING, _LOAD_MANAGER_CALLS),
            EVENTS.name: (_events(r"site\..+", r"security\.event"), ".*"),
        },
    ),
    # OCPI 2.2.1 towards eMSPs and hubs: it follows events, answers its RPC queries
    # (`roaming.rpc`), asks other services over RPC, and will send eMSPs' commands through
    # ocpp.command-requests as a back office does (so command-api runs and audits them, once
    # its API_COMMAND_REQUEST_ROLES names this role). It receives and sends no OCPP call and
    # publishes only `roaming.*` events.
    ROAMING: Grant(
        configure=one_of(*_DECLARED, r"roaming\..+", SERVER_NAMED),
        write=one_of(
            literal(EVENTS.name),
            literal(COMMAND_REQUESTS.name),
            literal(DEFAULT_EXCHANGE),
            r"roaming\..+",
            SERVER_NAMED,
        ),
        read=one_of(literal(EVENTS.name), r"roaming\..+", SERVER_NAMED),
        topics={EVENTS.name: (_events(r"roaming\..+"), ".*")},
    ),
    COMMAND_API: Grant(
        configure=one_of(*_DECLARED, r"command-api\..+", SERVER_NAMED),
        write=one_of(
            literal(COMMANDS.name),
            literal(CALLS.name),
            literal(DECISIONS.name),
            literal(EVENTS.name),
            literal(DEFAULT_EXCHANGE),
            r"command-api\..+",
            SERVER_NAMED,
        ),
        # Binding its queues: ocpp.command-requests (intake), ocpp.events (webhooks follow every
        # event; the console's live feed binds what it shows; the RPC reply queue hears
        # station.connected, for the stations' versions). Dead letters
        # (command_api/dead_letters.py): it reads the services' `.dead` queues and replays a
        # message through the exchange and key it was first published with.
        read=one_of(
            literal(COMMAND_REQUESTS.name),
            literal(EVENTS.name),
            r"command-api\..+",
            SERVER_NAMED,
            *_DEAD_LETTERS,
        ),
        topics={
            CALLS.name: (_CALL_KEYS, NOTHING),
            DECISIONS.name: (_CALL_KEYS, NOTHING),
            EVENTS.name: (".+", ".*"),
        },
    ),
    INTEGRATIONS: Grant(
        configure=one_of(r"integrations\..+"),
        write=one_of(literal(COMMAND_REQUESTS.name), r"integrations\..+"),
        read=one_of(literal(EVENTS.name), r"integrations\..+"),
        topics={EVENTS.name: (NOTHING, ".*")},
    ),
}


def user_of(url: str) -> str:
    """The broker user an AMQP URL logs in as (RabbitMQ's `guest` when it names none); of a
    cluster's list of nodes, the first node's (they all log in as one user, bus/nodes.py)."""
    return URL(url.split(",", 1)[0].strip()).user or "guest"


def named_users(prefix: str = "csms-") -> dict[str, str]:
    """`csms-gateway`, `csms-station-registry`, …: one user per role, as deployments name them."""
    return {role: prefix + role for role in ROLES}


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    """`roles` as a set; ValueError names any that is not a role of the suite."""
    result = frozenset(roles)
    if unknown := result - set(ROLES):
        raise ValueError(f"unknown broker roles {sorted(unknown)}; roles are {list(ROLES)}")
    return result


def allowed(user_id: str | None, roles: frozenset[str], users: Mapping[str, str]) -> bool:
    """Whether a message the broker verified as from `user_id` comes from one of `roles`."""
    return user_id is not None and any(users.get(role) == user_id for role in roles)


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


class DefinedUser(TypedDict):
    name: str
    password_hash: str
    hashing_algorithm: str
    tags: list[str]


class DefinedExchange(TypedDict):
    name: str
    vhost: str
    type: str
    durable: bool
    auto_delete: bool
    internal: bool
    arguments: dict[str, str]


class Permission(TypedDict):
    user: str
    vhost: str
    configure: str
    write: str
    read: str


class TopicPermission(TypedDict):
    user: str
    vhost: str
    exchange: str
    write: str
    read: str


class Definitions(TypedDict):
    """What `rabbitmqctl import_definitions` (or a node's `load_definitions`) reads."""

    vhosts: list[dict[str, str]]
    exchanges: list[DefinedExchange]
    users: list[DefinedUser]
    permissions: list[Permission]
    topic_permissions: list[TopicPermission]


def _user(name: str, password: str, tags: list[str]) -> DefinedUser:
    return {
        "name": name,
        "password_hash": password_hash(password),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": tags,
    }


def definitions(
    vhost: str,
    users: Mapping[str, str],
    passwords: Mapping[str, str],
    admin: tuple[str, str] | None = None,
    back_offices: Mapping[str, tuple[str, str]] | None = None,
) -> Definitions:
    """A RabbitMQ definitions document: the vhost, a user per role, their permissions; given
    `(name, password)`, an administrator for the management UI; and each back office's user
    (`{user: (role, password)}`)."""
    grants = {users[role]: GRANTS[role] for role in users}
    secrets = {users[role]: passwords[role] for role in users}
    for user, (role, password) in (back_offices or {}).items():
        grants[user] = back_office_grant(user, role)
        secrets[user] = password
    doc: Definitions = {
        "vhosts": [{"name": vhost}],
        # RabbitMQ 4.x refuses topic permissions on an exchange that does not exist yet.
        "exchanges": [
            {
                "name": ex.name,
                "vhost": vhost,
                "type": ex.type.value,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for ex in EXCHANGES
        ],
        "users": [_user(user, secrets[user], []) for user in grants],
        "permissions": [
            {
                "user": user,
                "vhost": vhost,
                "configure": grant.configure,
                "write": grant.write,
                "read": grant.read,
            }
            for user, grant in grants.items()
        ],
        "topic_permissions": [
            {"user": user, "vhost": vhost, "exchange": ex, "write": w, "read": r}
            for user, grant in grants.items()
            for ex, (w, r) in grant.topics.items()
        ],
    }
    if admin is not None:
        name, password = admin
        doc["users"].append(_user(name, password, ["administrator"]))
        doc["permissions"].append(
            {"user": name, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
        )
    return doc

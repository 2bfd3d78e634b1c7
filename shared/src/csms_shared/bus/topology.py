"""The broker topology, declared once: exchanges, routing keys, queue names, headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, FieldValue
from aiormq.exceptions import ChannelPreconditionFailed

from ..ocpp.version import OcppVersion


@dataclass(frozen=True, slots=True)
class Exchange:
    """A durable exchange of the suite."""

    name: str
    type: ExchangeType


CALLS = Exchange(
    "ocpp.calls", ExchangeType.TOPIC
)  # gateway -> services, "v16.<Action>", "v201.<Action>": bulk (notifications)
# The decisions' lane: calls a CP waits on for a decision (Boot, Authorize, Start/Stop, a
# TransactionEvent Started/Ended or with an idToken, ...), the same keys as `ocpp.calls`. Every
# service binds a queue of its own to each, consumed on a channel, prefetch and handler slots
# of its own, so a decision never waits behind a backlog of bulk data (docs/ARCHITECTURE.md,
# "Decisions first").
DECISIONS = Exchange("ocpp.decisions", ExchangeType.TOPIC)
COMMANDS = Exchange("ocpp.commands", ExchangeType.DIRECT)  # -> gateway holding the CP, key = CP id
EVENTS = Exchange("ocpp.events", ExchangeType.TOPIC)  # facts, "<entity>.<event>"
CONTROL = Exchange("ocpp.control", ExchangeType.FANOUT)  # every gateway: connection takeover
# Back offices' commands to CPs, `{"requestId", "chargePointId", "action", "payload"}`; any key.
COMMAND_REQUESTS = Exchange("ocpp.command-requests", ExchangeType.FANOUT)
# The OCPP message log: bundles of frame records from the gateways, to the message-log writer.
MESSAGE_LOG = Exchange("ocpp.log", ExchangeType.FANOUT)
# Owner beacons: every process that consumes OCPP calls says, each second, which lanes and keys
# it consumes and whether its database answers; the gateways answer at once a call nobody live
# owns (bus/owners.py, docs/ARCHITECTURE.md "Fail fast when an owner is gone").
OWNERS = Exchange("ocpp.owners", ExchangeType.FANOUT)
EXCHANGES = (CALLS, DECISIONS, COMMANDS, EVENTS, CONTROL, COMMAND_REQUESTS, MESSAGE_LOG, OWNERS)

# The routing key of a CP's CALL starts with its connection's version: `v16.`, `v201.`.
OCPP_VERSION_PREFIXES: dict[OcppVersion, str] = {OcppVersion.V16: "v16", OcppVersion.V201: "v201"}
_VERSION_OF_PREFIX = {prefix: version for version, prefix in OCPP_VERSION_PREFIXES.items()}

# Message headers; the correlation id travels in the AMQP property of that name.
HEADER_CHARGE_POINT = "x-charge-point-id"
HEADER_MESSAGE_ID = "x-ocpp-message-id"
HEADER_GATEWAY = "x-gateway-id"
# The AMQP timestamp property has whole seconds only; this header keeps microseconds.
HEADER_RECEIVED_AT = "x-received-at"
# A decision call's deadline, milliseconds since the epoch (an integer: AMQP tables carry
# floats in 32 bits, which at today's epoch lose over a minute): a service that takes the call
# later drops it unhandled (the gateway answers its CP at its timeout, so an answer would come
# too late and a commit would leave the CP and the DB disagreeing). No AMQP expiration: an
# expired message would be dead-lettered from the quorum queue as if it were poison.
HEADER_DEADLINE = "x-deadline"
# W3C trace context of a call (csms_shared.tracing), when traces are on.
TRACEPARENT = "traceparent"
# A bundle: one AMQP message carrying this many notifications of one action (bus/bundle.py).
HEADER_BUNDLE = "x-ocpp-bundle"
# A call the gateway took once the broker had it (a transaction's end, `GatewayBus.take`): its
# station may be answered without its owner's reply, so like a notification it is never
# dropped when its handling fails (bus/ack.py), though it asks for a reply.
HEADER_TAKEN = "x-ocpp-taken"

# Quorum queues are replicated in a cluster and fine on one node; a message that keeps
# failing is dead-lettered to `<queue>.dead` instead of looping forever. Set explicitly: 3.x has
# no default limit, 4.x's default (20) applies only where a queue sets none.
DELIVERY_LIMIT = 20

# Quorum like the service queues: a classic queue lives on one node of a cluster, and while
# that node is down every replica of the service fails to declare it, so none can reconnect at
# all (make cluster-test). Requests still expire with their caller's timeout (per-message TTL,
# RabbitMQ 3.10+) and, with no dead-letter target, are then dropped.
RPC_QUEUE_ARGUMENTS: dict[str, FieldValue] = {"x-queue-type": "quorum"}


def call_routing_key(action: str, version: OcppVersion) -> str:
    """`v16.BootNotification`, `v201.TransactionEvent`: the routing key of a CP's CALL on
    `ocpp.calls`, by the version its connection speaks."""
    return f"{OCPP_VERSION_PREFIXES[version]}.{action}"


def action_of(routing_key: str) -> str:
    """The action spelled in a `v16.<Action>` or `v201.<Action>` routing key."""
    return routing_key.partition(".")[2]


def version_of(routing_key: str) -> OcppVersion | None:
    """The OCPP version a call's routing key names; None for a key of no known version."""
    return _VERSION_OF_PREFIX.get(routing_key.partition(".")[0])


def service_queue(service: str, purpose: str) -> str:
    """`<service>.<purpose>`, e.g. `station-registry.calls`."""
    return f"{service}.{purpose}"


def gateway_queue(instance_id: str) -> str:
    """The exclusive queue of one gateway instance."""
    return f"gateway.{instance_id}"


def quorum_arguments(queue_name: str) -> dict[str, FieldValue]:
    """Arguments of a durable service queue: quorum, bounded redelivery, dead letters."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue_name}.dead",
    }


async def declare_exchanges(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    """Declare every exchange of the suite (idempotent) and return them by name."""
    return {
        ex.name: await channel.declare_exchange(ex.name, ex.type, durable=True) for ex in EXCHANGES
    }


async def declare_service_queue(channel: AbstractChannel, name: str) -> Any:
    """A durable quorum queue with its dead-letter queue beside it."""
    await channel.declare_queue(f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"})
    return await channel.declare_queue(name, durable=True, arguments=quorum_arguments(name))


async def declare_rpc_queue(
    connection: AbstractConnection, channel: AbstractChannel, name: str
) -> Any:
    """A durable quorum queue for RPC requests, shared by every replica of the service."""
    # Durable: RabbitMQ 4.x denies transient non-exclusive queues (`transient_nonexcl_queues`).
    # Earlier versions declared it transient, then classic, and a redeclaration with other
    # properties closes the channel (PRECONDITION_FAILED): tried on a channel of its own, such a
    # queue is replaced. It holds only queries whose callers time out and ask again.
    probe = await connection.channel(publisher_confirms=False)
    try:
        await probe.declare_queue(name, durable=True, arguments=RPC_QUEUE_ARGUMENTS)
    except ChannelPreconditionFailed:
        cleanup = await connection.channel(publisher_confirms=False)
        await cleanup.queue_delete(name)
        await cleanup.close()
    else:
        await probe.close()
    return await channel.declare_queue(name, durable=True, arguments=RPC_QUEUE_ARGUMENTS)

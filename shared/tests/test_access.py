"""Broker roles: who each role is, what the definitions grant, who an RPC accepts."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from csms_shared.bus.access import (
    GRANTS,
    ROLES,
    allowed,
    definitions,
    named_users,
    password_hash,
    user_of,
)
from csms_shared.bus.back_offices import back_office_grant, check_back_offices
from csms_shared.bus.router import Router


def matches(regex: str, name: str) -> bool:
    # RabbitMQ matches permission regexes unanchored; ours carry their own anchors.
    return re.search(regex, name) is not None


def test_only_command_api_writes_commands() -> None:
    writers = {role for role, grant in GRANTS.items() if matches(grant.write, "ocpp.commands")}
    assert writers == {"command-api"}


def test_the_gateway_publishes_only_its_own_events_and_calls_of_the_versions_it_speaks() -> None:
    write, _ = GRANTS["gateway"].topics["ocpp.events"]
    assert all(matches(write, k) for k in ("station.connected", "station.seen", "gateway.stopped"))
    assert not any(
        matches(write, k) for k in ("command.completed", "station.booted", "transaction.started")
    )
    calls_write, _ = GRANTS["gateway"].topics["ocpp.calls"]
    assert matches(calls_write, "v16.BootNotification")
    assert matches(calls_write, "v201.BootNotification")
    assert not any(matches(calls_write, k) for k in ("v21.BootNotification", "BootNotification"))


def test_only_the_gateway_and_command_api_put_calls_on_the_decisions_lane() -> None:
    # A service reads its decisions' queue but cannot put a call there: a decision comes from
    # a gateway (or a dead letter command-api replays where it was first published).
    writers = {r for r, g in GRANTS.items() if matches(g.write, "ocpp.decisions")}
    assert writers == {"gateway", "command-api"}
    for role in ("station-registry", "session-service"):
        assert matches(GRANTS[role].read, "ocpp.decisions")
        assert matches(GRANTS[role].read, f"{role}.decisions")
        assert matches(GRANTS["command-api"].read, f"{role}.decisions.dead")
    write, _ = GRANTS["gateway"].topics["ocpp.decisions"]
    assert matches(write, "v16.StartTransaction") and matches(write, "v201.TransactionEvent")
    assert not matches(write, "transaction.started")


def test_every_role_writing_a_topic_exchange_has_topic_permissions_there() -> None:
    # Without topic permissions on an exchange RabbitMQ lets a user publish any key.
    for role, grant in GRANTS.items():
        for exchange in ("ocpp.calls", "ocpp.decisions", "ocpp.events"):
            if matches(grant.write, exchange):
                assert exchange in grant.topics, (role, exchange)


def test_integrations_only_read_events() -> None:
    grant = GRANTS["integrations"]
    assert matches(grant.read, "ocpp.events")
    assert not any(matches(grant.write, ex) for ex in ("ocpp.events", "amq.default"))


def test_only_integrations_the_load_manager_and_roaming_publish_command_requests() -> None:
    # The load-manager sends its charging profiles as a back office would, to be audited; the
    # roaming service will send eMSPs' commands the same way.
    writers = {r for r, g in GRANTS.items() if matches(g.write, "ocpp.command-requests")}
    assert writers == {"integrations", "load-manager", "roaming"}
    readers = {r for r, g in GRANTS.items() if matches(g.read, "ocpp.command-requests")}
    assert readers == {"command-api"}
    # command-api binds its intake queue there and reads its own queues only.
    assert matches(GRANTS["command-api"].read, "command-api.command-requests")


def test_the_load_manager_publishes_site_and_security_events_only_and_no_call_or_command() -> None:
    grant = GRANTS["load-manager"]
    write, read = grant.topics["ocpp.events"]
    assert matches(write, "site.allocation_changed") and matches(read, "transaction.started")
    # A station's implausible readings, as the suite's security events.
    assert matches(write, "security.event")
    assert not any(
        matches(write, k) for k in ("command.completed", "transaction.started", "security.other")
    )
    assert not matches(grant.write, "ocpp.commands")
    assert matches(grant.read, "load-manager.rpc")
    # The one call it receives (its GetChargingProfiles' answer), and re-sends as a failed
    # bundle item: no other key on ocpp.calls.
    calls_write, calls_read = grant.topics["ocpp.calls"]
    for key_regex in (calls_write, calls_read):
        assert matches(key_regex, "v201.ReportChargingProfiles")
        assert not any(
            matches(key_regex, k)
            for k in ("v201.BootNotification", "v16.StartTransaction", "v201.NotifyReport")
        )


def test_roaming_publishes_its_own_events_only_and_no_call_or_command() -> None:
    grant = GRANTS["roaming"]
    assert "roaming" in ROLES
    write, read = grant.topics["ocpp.events"]
    assert matches(write, "roaming.platform_registered") and matches(read, "transaction.started")
    assert not any(
        matches(write, k) for k in ("command.completed", "transaction.started", "site.changed")
    )
    # Its RPC queries, and the replies of its own RPC calls to other services.
    assert matches(grant.read, "roaming.rpc") and matches(grant.read, "amq_0123abcd")
    assert matches(grant.write, "amq.default")
    assert not matches(grant.read, "load-manager.rpc")
    # No OCPP call in or out, no command to a gateway.
    for exchange in ("ocpp.calls", "ocpp.decisions", "ocpp.commands", "ocpp.control", "ocpp.log"):
        assert not matches(grant.write, exchange) and not matches(grant.read, exchange)
    assert "ocpp.calls" not in grant.topics
    assert not matches(grant.configure, "load-manager.events")


def test_definitions_hash_passwords_as_rabbitmq_does() -> None:
    users = named_users("t-")
    doc = definitions("/", users, dict.fromkeys(ROLES, "secret"))
    assert {u["name"] for u in doc["users"]} == set(users.values())
    raw = base64.b64decode(doc["users"][0]["password_hash"])
    assert raw[4:] == hashlib.sha256(raw[:4] + b"secret").digest()
    assert "secret" not in str(doc)
    assert password_hash("x", b"salt") == password_hash("x", b"salt")
    assert {p["user"] for p in doc["topic_permissions"]} == set(users.values())


def test_definitions_declare_the_exchanges_topic_permissions_name() -> None:
    doc = definitions("/", named_users("t-"), dict.fromkeys(ROLES, "secret"))
    declared = {ex["name"] for ex in doc["exchanges"]}
    assert {p["exchange"] for p in doc["topic_permissions"]} <= declared
    assert all(ex["durable"] and ex["vhost"] == "/" for ex in doc["exchanges"])


def test_a_caller_is_allowed_only_by_its_verified_user() -> None:
    users = {"gateway": "gw", "command-api": "api"}
    assert allowed("api", frozenset({"command-api"}), users)
    assert not allowed("gw", frozenset({"command-api"}), users)
    assert not allowed(None, frozenset({"command-api"}), users)


def test_an_rpc_names_known_roles_only() -> None:
    router = Router(service="x")
    with pytest.raises(ValueError, match="unknown broker roles"):
        router.rpc("m", callers={"gatway"})


def test_user_of_reads_the_login() -> None:
    assert user_of("amqp://csms-gateway:p%40ss@rabbitmq:5672/") == "csms-gateway"
    assert user_of("amqp://rabbitmq/") == "guest"


def test_a_back_office_user_reads_events_and_sends_commands_unless_a_viewer() -> None:
    operator = back_office_grant("billing", "operator")
    viewer = back_office_grant("reports", "viewer")
    assert re.fullmatch(operator.write, "ocpp.command-requests")
    assert not re.fullmatch(viewer.write, "ocpp.command-requests")
    for grant, own in ((operator, "billing.events"), (viewer, "reports.events")):
        assert re.fullmatch(grant.read, "ocpp.events") and re.fullmatch(grant.configure, own)
        assert not re.fullmatch(grant.configure, "integrations.events")
        assert not re.fullmatch(grant.read, "ocpp.commands")
    assert check_back_offices({"billing": "admin"}) == {"billing": "admin"}
    with pytest.raises(ValueError, match="role 'root'"):
        check_back_offices({"billing": "root"})
    with pytest.raises(ValueError, match="lower-case"):
        check_back_offices({"Billing ERP": "viewer"})

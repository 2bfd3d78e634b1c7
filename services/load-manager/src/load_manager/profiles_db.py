"""Schema `loads`: the charging profiles stored per station, the command outstanding at each
station, the comparisons of its profiles with what it holds, and the command requests on their
way to `ocpp.command-requests` (an outbox of its own: command-api runs them, audited)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    Sequence,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from .db import metadata

# Drawn at each store: of two profiles that replace one another (1.6: same purpose, stack level
# and connector), the one stored later has the higher revision and wins.
profile_revisions = Sequence("charging_profile_revisions", metadata=metadata)

# One row per profile id of a station (ids name profiles per station in both versions). The
# profile itself is the suite's neutral model as JSON; the columns beside it are what queries
# pick rows by. `action`/`status`/... hold the last command about it and the station's answer.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("profile_id", BigInteger, primary_key=True),
    Column("connector_id", BigInteger, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("stack_level", BigInteger, nullable=False),
    Column("profile", JSONB, nullable=False),
    Column("ocpp_version", String(8), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    # The requestId of the command on ocpp.command-requests (none: nothing was sent; with
    # status `pending`, queued behind the station's outstanding command).
    Column("request_id", String(100)),
    Column("command_id", String(64)),
    Column("outcome", String(32)),
    Column("response", JSONB),
    Column("reason", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "action IN ('SetChargingProfile', 'ClearChargingProfile')",
        name="ck_charging_profiles_action",
    ),
    CheckConstraint(
        "status IN ('pending', 'accepted', 'rejected', 'failed')",
        name="ck_charging_profiles_status",
    ),
    CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_charging_profiles_version"),
    Index("charging_profiles_target", "charge_point_id", "connector_id", "purpose", "stack_level"),
    Index(
        "charging_profiles_request",
        "request_id",
        unique=True,
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)

# One row per station that was sent a command or seen connecting: the one command about its
# profiles on its way (at most one, so that they reach it in the order they were decided:
# command-api runs requests concurrently), and its last connection (`station.connected`).
profile_stations = Table(
    "profile_stations",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("request_id", String(100)),
    Column("requested_at", DateTime(timezone=True)),
    Column("connected_at", DateTime(timezone=True)),
    Index(
        "profile_stations_outstanding",
        "requested_at",
        postgresql_where=text("request_id IS NOT NULL"),
    ),
)

# One row per station whose stored profiles are being compared with what it holds, after it
# came back (`profile_checks.py`): 2.0.1 asks GetChargingProfiles and collects the
# ReportChargingProfiles that answer it; 1.6 asks GetCompositeSchedule connector by connector.
# The ask takes the station's one outstanding command (`profile_stations`) until it is done.
profile_checks = Table(
    "profile_checks",
    metadata,
    Column("charge_point_id", String(48), primary_key=True),
    Column("ocpp_version", String(8), nullable=False),
    # A boot asked for it: a profile the station rejected before is sent again too.
    Column("boot", Boolean, nullable=False),
    # The requestId of the ask on its way (none: it waits for the station's outstanding command).
    Column("request_id", String(100)),
    # 2.0.1: GetChargingProfiles' requestId, which each ReportChargingProfiles repeats.
    Column("report_id", BigInteger),
    # 1.6: the connectors still to ask (the first is being asked), those whose composite
    # schedule matched the stored profiles' and those where it differed.
    Column("connectors", JSONB, nullable=False, server_default=text("'[]'")),
    Column("matched", JSONB, nullable=False, server_default=text("'[]'")),
    Column("differing", JSONB, nullable=False, server_default=text("'[]'")),
    # 2.0.1: the profiles reported so far, in the suite's terms (connector = the EVSE).
    Column("reported", JSONB, nullable=False, server_default=text("'[]'")),
    Column("started_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("ocpp_version IN ('1.6', '2.0.1')", name="ck_profile_checks_version"),
)

# Command requests, written in the transaction that decided them and published after it
# commits (`commands.relay_commands`): a profile is never stored without its command, nor a
# command sent for a change that rolled back.
command_outbox = Table(
    "command_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("routing_key", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

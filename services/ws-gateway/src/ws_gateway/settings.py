"""Gateway settings, from `GATEWAY_*` environment variables."""

from __future__ import annotations

import os
import secrets
import socket

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from csms_shared.bus.message_log import MessageLogLevel
from csms_shared.ocpp.version import OcppVersion
from csms_shared.settings import BrokerSettings, CommonSettings, settings_config


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Settings(BaseSettings, BrokerSettings, CommonSettings):
    """One gateway process: where it listens and how it bounds each connection."""

    @model_validator(mode="after")
    def _admission_within_handshake(self) -> Settings:
        if self.admission_timeout >= self.handshake_timeout:
            raise ValueError(
                "admission_timeout must be below handshake_timeout (a CP gets its 503 before"
                " the handshake is cut)"
            )
        return self

    model_config = settings_config("GATEWAY_")

    port: int = 9000
    # A CP that offers both `ocpp2.0.1` and `ocpp1.6` is spoken to in this version.
    preferred_ocpp_version: OcppVersion = OcppVersion.V201
    # /healthz, /readyz and /metrics: on their own port; the CP port serves only /ocpp/{id}.
    internal_port: int = 8084
    # Accept queue of the listening socket (asyncio's default is 100: a connect storm overflows
    # it and each dropped SYN costs the CP a 1 s retransmit). Linux caps it at net.core.somaxconn.
    listen_backlog: int = Field(default=4096, ge=1)
    instance_id: str = Field(default_factory=_default_instance_id)
    max_frame_bytes: int = Field(default=65_536, ge=1024)
    ping_interval: float = Field(default=30.0, gt=0)
    ping_timeout: float = Field(default=30.0, gt=0)
    compression: bool = False
    call_timeout: float = Field(default=25.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    max_queued_calls: int = Field(default=10, ge=1)
    max_queued_commands: int = Field(default=50, ge=1)
    beat_interval: float = Field(default=5.0, gt=0)
    # Heartbeats are answered here; their last-seen times leave as `station.seen` this often.
    seen_flush_seconds: float = Field(default=5.0, gt=0)
    # Notifications of one action leave in one message per this many ms at most: one after a
    # quiet spell at once, the rest gathered (needs services that read bundles: upgrade them
    # first). A busy gateway adds at most this to a notification's answer; an idle one nothing.
    bundle_notifications: bool = True
    bundle_wait_ms: float = Field(default=10.0, ge=0, le=1000)
    # Decision calls (BootNotification, Authorize, StartTransaction, ...) of one action that
    # queue while this many bundles of it await their answer leave in one message; the owner
    # answers it with one reply, from one transaction. Same upgrade order.
    bundle_requests: bool = True
    request_bundles_in_flight: int = Field(default=2, ge=1, le=64)
    # Overload: when the oldest unanswered decision call of an action has waited this long
    # (its service is that far behind), new calls of the action are refused at once with an
    # InternalError naming `retryAfterSeconds`, instead of queueing to time out after
    # call_timeout (0: never; needs bundle_requests).
    refuse_calls_behind: float = Field(default=10.0, ge=0)
    # Overload: handshakes waiting for the registry's admission at once, at most; more are
    # answered 503 with a Retry-After at once (a connect storm is paced, not left hanging).
    max_pending_handshakes: int = Field(default=2000, ge=1)
    drain_timeout: float = Field(default=10.0, gt=0)
    drain_spread_seconds: float = Field(default=2.0, ge=0, description="close CPs as a ramp")
    # Proxies (CIDRs) whose X-Forwarded-For names the CP's address for the handshake limits.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Certificate files are checked this often and reloaded when they change (0: SIGHUP only).
    tls_reload_interval: float = Field(default=30.0, ge=0)
    # Security profile 2/3: serve wss:// with this certificate; profile 3 verifies client
    # certificates against these CAs only, and refuses those the CRL file (PEM, a current CRL
    # of every CA in the trust file) lists. SIGHUP or a file change builds a fresh context.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    tls_crl_file: str | None = None
    auth_cache_seconds: float = Field(default=60.0, ge=0)
    # How long a handshake waits for the registry's admission before 503. Well under the
    # handshake's own limit: in a reconnect storm a slow yes beats a refusal the CP backs off
    # from, and a 503 beats a socket closed without an answer.
    admission_timeout: float = Field(default=8.0, gt=0)
    # A handshake not through in this many seconds (request read, admission, answer written) is
    # closed without an answer: kept well above admission_timeout, so that under load the CP
    # gets the 503 (a loaded event loop reaches a request late).
    handshake_timeout: float = Field(default=20.0, gt=0)
    # Abuse limits: per-CP message rate (token bucket), handshakes per source address.
    rate_limit_per_second: float = Field(default=20.0, gt=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    rate_limit_strikes: int = Field(default=50, ge=1, description="then disconnect")
    # Answers to no call of the gateway's: each is a strike; one per this many seconds of a
    # connection is kept in the message log and logged, the others are only counted.
    unsolicited_log_seconds: float = Field(default=60.0, ge=0)
    handshakes_per_address_per_second: float = Field(default=50.0, gt=0)
    handshake_burst_per_address: int = Field(default=200, ge=1)
    # A CP id reconnecting in a tight loop (two devices with one id, a boot loop) is slowed down.
    # A known CP's refused handshakes go to its message log at most once per address in this
    # many seconds, the record counting the refusals it stands for.
    refusal_record_seconds: float = Field(default=60.0, gt=0)
    handshakes_per_charge_point_per_second: float = Field(default=1.0, gt=0)
    handshake_burst_per_charge_point: int = Field(default=10, ge=1)
    # The OCPP message log (message_log.py): the level of CPs without an admin's override, the
    # records buffered at most (then dropped and counted), one bundle per this many records or
    # ms, bundles unconfirmed at once, a malformed frame's text kept, overrides re-read.
    message_log_level: MessageLogLevel = MessageLogLevel.ALL
    message_log_buffer: int = Field(default=50_000, ge=1)
    # The broker costs about the same per bundle of 500 records as of 2,000 (bench/RESULTS.md).
    message_log_bundle_max: int = Field(default=2000, ge=1, le=10_000)
    message_log_bundle_wait_ms: float = Field(default=200.0, ge=0, le=5000)
    message_log_in_flight: int = Field(default=4, ge=1, le=64)
    message_log_raw_max_bytes: int = Field(default=4096, ge=64)
    message_log_refresh_seconds: float = Field(default=60.0, gt=0)

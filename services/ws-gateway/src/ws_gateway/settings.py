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

    port: int = Field(default=9000, description="charge points' WebSocket port (`/ocpp/{id}` only)")
    preferred_ocpp_version: OcppVersion = Field(
        default=OcppVersion.V201,
        description="the version a CP offering both `ocpp2.0.1` and `ocpp1.6` is spoken to in"
        " (`1.6` or `2.0.1`)",
    )
    internal_port: int = Field(
        default=8084,
        description="`/healthz`, `/readyz`, `/metrics` (internal only: the CP port serves only"
        " `/ocpp/{id}`; `make up` gives its two gateways 8084 and 8085)",
    )
    listen_backlog: int = Field(
        default=4096,
        ge=1,
        description="accept queue of the listening socket, so a connect storm's SYNs are not"
        " dropped (asyncio's default of 100 overflows, and each dropped SYN costs the CP a 1 s"
        " retransmit); Linux caps it at `net.core.somaxconn`",
    )
    instance_id: str = Field(
        default_factory=_default_instance_id,
        description="the gateway's id: queue `gateway.<id>`, shown as a CP's `gateway`",
    )
    max_frame_bytes: int = Field(
        default=65_536,
        ge=1024,
        description="largest accepted frame in bytes; a larger one closes the connection with 1009",
    )
    ping_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between WebSocket pings, which reap dead connections",
    )
    ping_timeout: float = Field(
        default=30.0,
        gt=0,
        description="seconds a WebSocket ping may wait for its pong before the connection is"
        " closed",
    )
    compression: bool = Field(
        default=False,
        description="permessage-deflate (about 3x the memory per idle connection)",
    )
    call_timeout: float = Field(
        default=25.0, gt=0, description="seconds to wait for a service's answer to a CP's CALL"
    )
    # Decisions first (issue 45): a transaction's end waits behind its station's bulk data, so
    # under a backlog its owner's answer can be late; the end is taken once the broker has it.
    end_answer_after: float = Field(
        default=0.8,
        ge=0,
        description="seconds after which a transaction's end the broker holds (1.6"
        " StopTransaction, a 2.0.1 TransactionEvent Ended) is answered without waiting for its"
        " service, which is behind: with the decision about its token the session-service"
        " judges over RPC, an Ended without totalCost. It is stored in order all the same. At"
        " or above `GATEWAY_CALL_TIMEOUT`: answered apart only once that timeout ran out",
    )
    command_timeout: float = Field(
        default=30.0,
        gt=0,
        description="default seconds to wait for a CP's answer to a command",
    )
    max_queued_calls: int = Field(
        default=10,
        ge=1,
        description="CALLs a CP may have waiting before it gets `GenericError`",
    )
    max_queued_commands: int = Field(
        default=50,
        ge=1,
        description="commands waiting per CP before the sender is told `busy`",
    )
    beat_interval: float = Field(
        default=5.0, gt=0, description="seconds between `gateway.heartbeat` liveness events"
    )
    seen_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Heartbeats are answered by the gateway; their last-seen times reach the"
        " registry in one `station.seen` event per this many seconds (a gateway killed in"
        " between loses at most that much last-seen)",
    )
    bundle_notifications: bool = Field(
        default=True,
        description="notifications of one action leave in bundles (one AMQP message for up to"
        " 100, paced by `GATEWAY_BUNDLE_WAIT_MS`); services of this version read both forms,"
        " so upgrade them before the gateways",
    )
    bundle_wait_ms: float = Field(
        default=10.0,
        ge=0,
        le=1000,
        description="at most one bundle of an action per this many ms: a notification after a"
        " quiet spell leaves at once, later ones wait for the next bundle (at most this long),"
        " so bundles grow with the rate (0: only those of the same event-loop turn). A busy"
        " gateway adds at most this to a notification's answer; an idle one nothing",
    )
    bundle_requests: bool = Field(
        default=True,
        description="decision calls (BootNotification, Authorize, Start/StopTransaction, ...)"
        " of one action that queue while `GATEWAY_REQUEST_BUNDLES_IN_FLIGHT` bundles of it"
        " await their answer leave in one AMQP message, answered with one reply from one"
        " transaction; same upgrade order as notification bundles",
    )
    request_bundles_in_flight: int = Field(
        default=2,
        ge=1,
        le=64,
        description="bundles of decision calls per action awaiting their answer before the"
        " next calls queue (an idle gateway sends each call at once)",
    )
    refuse_calls_behind: float = Field(
        default=10.0,
        ge=0,
        description="overload: when the oldest unanswered decision call of an action has"
        " waited this many seconds (its service is that far behind), new calls of that action"
        " are answered `InternalError` with `retryAfterSeconds` at once instead of timing out"
        " after `GATEWAY_CALL_TIMEOUT`; they never reach the service (0: off; needs"
        " `GATEWAY_BUNDLE_REQUESTS`)",
    )
    owner_check: bool = Field(
        default=True,
        description="fail fast: a decision call whose service had a live owner but has none now"
        " (every process of it gone, or its database down, as their owner beacons on"
        " `ocpp.owners` tell) is answered `InternalError` with `retryAfterSeconds` at once, and"
        " the calls waiting for it are too, instead of timing out after"
        " `GATEWAY_CALL_TIMEOUT`; a key no beacon names is sent as before",
    )
    max_pending_handshakes: int = Field(
        default=800,
        ge=1,
        description="overload: handshakes in admission (asking the registry) at once; more"
        " wait their turn (`GATEWAY_HANDSHAKE_QUEUE_SECONDS`, `GATEWAY_MAX_QUEUED_HANDSHAKES`),"
        " then get `503` with a spread `Retry-After`. The default is what"
        " `GATEWAY_ADMISSION_REQUESTS_IN_FLIGHT` requests of 200 ask about: the rest wait in"
        " order, not behind the registry's answers with their admission timeout running",
    )
    # A connect storm (issue 45): past max_pending_handshakes a handshake waits a little for a
    # slot rather than being refused; a CP refused all the same is told to come back over the
    # time this gateway needs to let in what it holds, so the refused return at its pace.
    handshake_queue_seconds: float = Field(
        default=5.0,
        ge=0,
        description="overload: seconds a handshake past `GATEWAY_MAX_PENDING_HANDSHAKES` waits"
        " for its turn before `503` (0: no waiting). With"
        " `GATEWAY_ADMISSION_TIMEOUT`, below `GATEWAY_HANDSHAKE_TIMEOUT` (a loaded gateway"
        " still answers before the handshake is cut)",
    )
    admission_requests_in_flight: int = Field(
        default=4,
        ge=1,
        le=32,
        description="admission requests (up to 200 handshakes each) awaiting the registry's"
        " answer at once; the handshakes that come meanwhile leave together in the next",
    )
    max_queued_handshakes: int = Field(
        default=5000,
        ge=0,
        description="overload: handshakes waiting for their turn at once; more get `503` at once",
    )
    refused_retry_min_seconds: float = Field(
        default=10.0,
        ge=0,
        description="a handshake refused for overload (`503`) gets a `Retry-After` of 1 s plus"
        " a random share of the time this gateway needs for the handshakes it holds and those"
        " it refused in the last 5 s, at the rate admissions ended in them (never below"
        " `GATEWAY_MAX_PENDING_HANDSHAKES` per `GATEWAY_ADMISSION_TIMEOUT`); that time is at"
        " least this",
    )
    refused_retry_max_seconds: float = Field(
        default=120.0,
        gt=0,
        description="... and at most this",
    )

    @model_validator(mode="after")
    def _queue_within_handshake(self) -> Settings:
        if self.handshake_queue_seconds + self.admission_timeout >= self.handshake_timeout:
            raise ValueError(
                "handshake_queue_seconds + admission_timeout must be below handshake_timeout"
                " (a CP gets its 503 before the handshake is cut)"
            )
        if self.refused_retry_min_seconds > self.refused_retry_max_seconds:
            raise ValueError("refused_retry_min_seconds must not exceed refused_retry_max_seconds")
        return self

    drain_timeout: float = Field(
        default=10.0, gt=0, description="seconds a SIGTERM waits for connections to close"
    )
    drain_spread_seconds: float = Field(
        default=2.0,
        ge=0,
        description="a drain closes its CPs as a ramp over this many seconds",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="JSON list of CIDRs whose `X-Forwarded-For` names the CP's address (for"
        " the handshake limits)",
    )
    tls_reload_interval: float = Field(
        default=30.0,
        ge=0,
        description="seconds between checks of the certificate files, reloaded when they"
        " change (0: SIGHUP only)",
    )
    # SIGHUP or a change of the files builds a fresh context for new handshakes.
    tls_cert_file: str | None = Field(
        default=None,
        description="serve `wss://` with this certificate (security profiles 2 and 3)",
    )
    tls_key_file: str | None = Field(
        default=None, description="the private key of `GATEWAY_TLS_CERT_FILE`"
    )
    tls_client_ca_file: str | None = Field(
        default=None,
        description="verify client certificates against these CAs only (profile 3)",
    )
    tls_crl_file: str | None = Field(
        default=None,
        description="PEM CRLs, a current one per CA of the client CA file: listed client"
        " certificates are refused at the handshake",
    )
    auth_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="how long a gateway remembers an admitted handshake (the registry's yes)",
    )
    # Well under the handshake's own limit: in a reconnect storm a slow yes beats a refusal the
    # CP backs off from, and a 503 beats a socket closed without an answer.
    admission_timeout: float = Field(
        default=8.0,
        gt=0,
        description="seconds a handshake waits for the registry to admit the CP before `503`"
        " with `Retry-After` (must be below `GATEWAY_HANDSHAKE_TIMEOUT`)",
    )
    # A loaded event loop reaches a request late.
    handshake_timeout: float = Field(
        default=20.0,
        gt=0,
        description="a handshake not through in this many seconds (request read, admission,"
        " answer written) is closed without an answer; well above the admission timeout, so"
        " that a loaded gateway still answers `503`",
    )
    # Abuse limits: per-CP message rate (token bucket), handshakes per source address.
    rate_limit_per_second: float = Field(
        default=20.0,
        gt=0,
        description="frames per CP per second (a token bucket): every CALL, answer and"
        " malformed frame spends one (an answer to the command in flight is never refused);"
        " over it a CALL gets `GenericError` with `retryAfterSeconds`, a malformed frame or an"
        " answer is dropped unlogged",
    )
    rate_limit_burst: int = Field(
        default=60,
        ge=1,
        description="the token bucket's size: frames a CP may send at once beyond"
        " `GATEWAY_RATE_LIMIT_PER_SECOND`",
    )
    rate_limit_strikes: int = Field(
        default=50,
        ge=1,
        description="strikes before the CP is disconnected with 1008: a frame over its rate,"
        " or an answer to no call of the gateway's",
    )
    unsolicited_log_seconds: float = Field(
        default=60.0,
        ge=0,
        description="answers to no call are dropped and counted"
        " (`csms_gateway_unsolicited_answers_total`); one per this many seconds of a"
        " connection is kept in the message log and logged",
    )
    handshakes_per_address_per_second: float = Field(
        default=50.0,
        gt=0,
        description="handshakes per source address per second, checked before anything else;"
        " more get `429` with a `Retry-After` spread over the time the budget takes to refill",
    )
    handshake_burst_per_address: int = Field(
        default=200,
        ge=1,
        description="handshakes one source address may make at once beyond"
        " `GATEWAY_HANDSHAKES_PER_ADDRESS_PER_SECOND`",
    )
    refusal_record_seconds: float = Field(
        default=60.0,
        gt=0,
        description="a known CP's refused handshakes reach its message log at most once per"
        " address in this many seconds, the record counting the refusals it stands for;"
        " made-up ids' refusals are only counted (`csms_gateway_handshake_refusals_total`) and"
        " logged (a line a second per address at most)",
    )
    # A CP id reconnecting in a tight loop (two devices with one id, a boot loop) is slowed down.
    handshakes_per_charge_point_per_second: float = Field(
        default=1.0,
        gt=0,
        description="failed or unauthenticated handshakes per (CP id, source address) per"
        " second; more get `429` (a CP presenting its right credentials is never refused for"
        " another address's failures)",
    )
    handshake_burst_per_charge_point: int = Field(
        default=10,
        ge=1,
        description="failed or unauthenticated handshakes one (CP id, source address) may make"
        " at once beyond `GATEWAY_HANDSHAKES_PER_CHARGE_POINT_PER_SECOND`",
    )
    # The OCPP message log (message_log.py).
    message_log_level: MessageLogLevel = Field(
        default=MessageLogLevel.ALL,
        description="what the message log keeps of CPs without an admin's override: `all`,"
        " `all-but-heartbeat`, `off`",
    )
    message_log_buffer: int = Field(
        default=50_000,
        ge=1,
        description="records a gateway holds for the log at most; beyond, records are dropped"
        " and counted",
    )
    message_log_bundle_max: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="records per log bundle at most (the broker costs about the same per"
        " bundle of 500 records as of 2,000: bench/RESULTS.md)",
    )
    message_log_bundle_wait_ms: float = Field(
        default=200.0,
        ge=0,
        le=5000,
        description="a log bundle gathers records this many ms at most",
    )
    message_log_in_flight: int = Field(
        default=4,
        ge=1,
        le=64,
        description="log bundles awaiting the broker's confirm at once",
    )
    message_log_raw_max_bytes: int = Field(
        default=4096, ge=64, description="bytes of a malformed frame's text kept in the log"
    )
    message_log_refresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="the per-CP levels are read again this often, in seconds (events apply"
        " them at once)",
    )

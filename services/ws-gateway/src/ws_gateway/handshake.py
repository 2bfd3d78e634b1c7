"""The WebSocket handshake: path, id, subprotocol, rate limits, then the registry's admission."""

from __future__ import annotations

import ipaddress
import logging
import math
import random
import weakref
from http import HTTPStatus
from urllib.parse import unquote

from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from csms_shared.bus.message_log import RecordKind
from csms_shared.bus.rpc import RpcClient, RpcError, RpcUnavailable
from csms_shared.ocpp.identity import CHARGE_POINT_ID_CHARS, is_charge_point_id

from .auth import Decision, HandshakeAuthorizer, basic_credentials
from .limits import AddressLimiter
from .message_log import MessageLog
from .settings import Settings

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
OCPP_PATH = "/ocpp/"
HANDSHAKES = Counter(
    "csms_gateway_handshakes_total", "WebSocket handshakes by outcome", ["outcome"]
)


# Refused for overload (503), a CP is told to come back after 1 to this many seconds, spread at
# random so that a storm's refusals do not all return in the same second.
RETRY_SPREAD_SECONDS = 10


def retry_after(spread: float) -> str:
    """A Retry-After value: whole seconds, 1 to 1 + `spread`, at random."""
    return str(1 + random.randint(0, max(0, math.ceil(spread))))


def cp_id_of(path: str) -> str | None:
    """The charge point id of an `/ocpp/{id}` path, or None for any other path."""
    if not path.startswith(OCPP_PATH):
        return None
    return unquote(path[len(OCPP_PATH) :].split("?", 1)[0])


class Handshakes:
    """Decides each handshake before the connection opens; the handler reads the decision."""

    def __init__(
        self,
        settings: Settings,
        rpc: RpcClient,
        *,
        tls: bool,
        message_log: MessageLog | None = None,
    ) -> None:
        self._tls = tls
        self._log = message_log
        self.authorizer = HandshakeAuthorizer(
            rpc, settings.auth_cache_seconds, timeout=settings.admission_timeout
        )
        self._handshakes = AddressLimiter(
            settings.handshakes_per_address_per_second, settings.handshake_burst_per_address
        )
        # An address over its budget comes back when its bucket has refilled.
        self._address_spread = (
            settings.handshake_burst_per_address / settings.handshakes_per_address_per_second
        )
        self._max_pending = settings.max_pending_handshakes
        self._pending = 0  # handshakes waiting for the registry's admission
        self._trusted = [ipaddress.ip_network(net) for net in settings.trusted_proxies]
        # Failed or unauthenticated handshakes per (CP id, source address): a stranger's
        # failures never spend the budget of the real CP at its own address.
        self._failures = AddressLimiter(
            settings.handshakes_per_charge_point_per_second,
            settings.handshake_burst_per_charge_point,
        )
        self._failure_spread = 1 / settings.handshakes_per_charge_point_per_second
        # Decisions made in process_request, read by the connection handler.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Decision] = (
            weakref.WeakKeyDictionary()
        )

    def admitted(self, connection: ServerConnection) -> Decision | None:
        """The decision that let `connection` open (taken: asked once)."""
        return self._admitted.pop(connection, None)

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Decide the handshake. Every refusal at `/ocpp/...` is logged; one of a well-formed
        CP id also goes to its message log (the reason and status only: never the request's
        headers, which hold its credentials)."""
        response = await self._decide(connection, request)
        if response is None:
            return None
        cp_id = cp_id_of(request.path.split("?", 1)[0])
        if cp_id is None:
            return response
        reason = response.body.decode("utf-8", "replace").strip()
        address = self._client_address(connection, request)
        log.log(
            logging.WARNING if response.status_code >= 500 else logging.INFO,
            "handshake of %r from %s refused: %d %s%s",
            cp_id[:64],
            address,
            response.status_code,
            reason,
            f" (Retry-After {response.headers['Retry-After']} s)"
            if "Retry-After" in response.headers
            else "",
        )
        if self._log is not None and is_charge_point_id(cp_id):
            self._log.event(
                cp_id,
                RecordKind.REFUSED,
                {
                    "status": response.status_code,
                    "reason": reason,
                    "address": address,
                    "gateway": self._log.gateway,
                },
            )
        return response

    async def _decide(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if "upgrade" not in request.headers.get("Connection", "").lower():
            # Plain HTTP: nothing here but WebSocket upgrades (probes live on the internal port).
            if cp_id_of(path) is None:
                return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
            refusal = connection.respond(
                HTTPStatus.UPGRADE_REQUIRED, "Charge points connect with a WebSocket upgrade\n"
            )
            refusal.headers["Upgrade"] = "websocket"  # RFC 9110 15.5.22: 426 names the protocol
            return refusal
        cp_id = cp_id_of(path)
        if cp_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Charge points connect at /ocpp/{id}\n")
        if not is_charge_point_id(cp_id):
            return connection.respond(
                HTTPStatus.BAD_REQUEST, f"Charge point id must be {CHARGE_POINT_ID_CHARS}\n"
            )
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        ]
        if SUBPROTOCOL not in offered:
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"Sec-WebSocket-Protocol must offer {SUBPROTOCOL}; offered: {offered or 'none'}\n",
            )
        address = self._client_address(connection, request)
        if not self._handshakes.allow(address):
            HANDSHAKES.labels("throttled").inc()
            return _later(
                connection,
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too many handshakes from this address",
                self._address_spread,
            )
        pair = f"{cp_id} {address}"
        if self._failures.exhausted(pair):
            HANDSHAKES.labels("throttled").inc()
            return _later(
                connection,
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too many failed or unauthenticated handshakes for this charge point id",
                self._failure_spread,
            )
        if self._pending >= self._max_pending:
            HANDSHAKES.labels("overloaded").inc()
            return _later(
                connection,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "Too many charge points are connecting at once",
                RETRY_SPREAD_SECONDS,
            )
        self._pending += 1
        try:
            response = await self._admit(connection, request, cp_id)
        finally:
            self._pending -= 1
        decision = self._admitted.get(connection)
        if decision is None or not decision.authenticated:
            self._failures.allow(pair)  # spends a token
        return response

    def _client_address(self, connection: ServerConnection, request: Request) -> str:
        """The CP's address: the peer, or what a trusted proxy says in X-Forwarded-For."""
        peer = connection.remote_address[0] if connection.remote_address else "?"
        if not self._trusted or not _in(peer, self._trusted):
            return peer
        hops = [
            hop.strip()
            for value in request.headers.get_all("X-Forwarded-For")
            for hop in value.split(",")
            if hop.strip()
        ]
        # The right-most address no trusted proxy added is the client's.
        for hop in reversed(hops):
            if not _in(hop, self._trusted):
                return hop
        return peer

    async def _admit(
        self, connection: ServerConnection, request: Request, cp_id: str
    ) -> Response | None:
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is not None and credentials[0] != cp_id:
            HANDSHAKES.labels("unauthorized").inc()
            return _unauthorized(connection, "The Basic auth username must be the CP id")
        try:
            decision = await self.authorizer.decide(
                cp_id,
                credentials[1] if credentials else None,
                tls=self._tls,
                client_cn=_client_cn(connection),
            )
        except (RpcError, RpcUnavailable) as exc:
            HANDSHAKES.labels("unavailable").inc()
            return _later(
                connection,
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"The central system cannot admit CPs right now ({exc})",
                RETRY_SPREAD_SECONDS,
            )
        if not decision.allowed:
            HANDSHAKES.labels("refused").inc()
            if decision.status == HTTPStatus.UNAUTHORIZED:
                return _unauthorized(connection, decision.reason)
            return connection.respond(HTTPStatus(decision.status), decision.reason + "\n")
        HANDSHAKES.labels("admitted").inc()
        self._admitted[connection] = decision
        return None


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _later(
    connection: ServerConnection, status: HTTPStatus, reason: str, spread: float
) -> Response:
    """A refusal the CP should retry, with a Retry-After spread over `spread` seconds."""
    response = connection.respond(status, reason + "\n")
    response.headers["Retry-After"] = retry_after(spread)
    return response


def _unauthorized(connection: ServerConnection, reason: str) -> Response:
    response = connection.respond(HTTPStatus.UNAUTHORIZED, reason + "\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="csms", charset="UTF-8"'
    return response


def _client_cn(connection: ServerConnection) -> str | None:
    """The commonName of the client certificate the TLS handshake verified, if any."""
    transport = getattr(connection, "transport", None)
    peercert = transport.get_extra_info("peercert") if transport is not None else None
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None

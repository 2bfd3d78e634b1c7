"""The WebSocket handshake: path, id, subprotocol, rate limits, then the registry's admission."""

from __future__ import annotations

import ipaddress
import logging
import weakref
from collections.abc import Callable, Sequence
from http import HTTPStatus
from urllib.parse import unquote

from prometheus_client import Counter
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from csms_shared.bus.rpc import RpcClient, RpcError, RpcUnavailable
from csms_shared.ocpp.identity import CHARGE_POINT_ID_CHARS, is_charge_point_id
from csms_shared.ocpp.version import OcppVersion

from .auth import Decision, HandshakeAuthorizer, basic_credentials
from .limits import AddressLimiter
from .message_log import MessageLog
from .refusals import Refusals
from .settings import Settings
from .slots import HandshakeSlots, retry_after

log = logging.getLogger(__name__)

# The subprotocols a CP may offer, one per OCPP version the gateway speaks.
SUBPROTOCOLS = tuple(version.subprotocol for version in OcppVersion)
OCPP_PATH = "/ocpp/"
HANDSHAKES = Counter(
    "csms_gateway_handshakes_total", "WebSocket handshakes by outcome", ["outcome"]
)


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
        holds: Callable[[str], bool] = lambda cp_id: False,
    ) -> None:
        self._tls = tls
        self.refusals = Refusals(message_log, settings.refusal_record_seconds)
        # Whether this gateway holds a connection of that id now.
        self._holds = holds
        self.authorizer = HandshakeAuthorizer(
            rpc,
            settings.auth_cache_seconds,
            timeout=settings.admission_timeout,
            in_flight=settings.admission_requests_in_flight,
        )
        self._handshakes = AddressLimiter(
            settings.handshakes_per_address_per_second, settings.handshake_burst_per_address
        )
        # An address over its budget comes back when its bucket has refilled.
        self._address_spread = (
            settings.handshake_burst_per_address / settings.handshakes_per_address_per_second
        )
        # Handshakes asking the registry at once; more wait their turn a little.
        self.slots = HandshakeSlots(
            settings.max_pending_handshakes,
            settings.max_queued_handshakes,
            settings.handshake_queue_seconds,
            shortest=settings.refused_retry_min_seconds,
            longest=settings.refused_retry_max_seconds,
            least_rate=settings.max_pending_handshakes / settings.admission_timeout,
        )
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
        """Decide the handshake. Every refusal is counted and logged (at most a line a second
        per address); one of a charge point the central system knows also goes to its message
        log, at most once per (CP, address) a minute with a count (the reason and status only:
        never the request's headers, which hold its credentials)."""
        address = self._client_address(connection, request)
        cp_id = cp_id_of(request.path.split("?", 1)[0])
        known = False
        response: Response | None
        # The address's budget before anything else: no refusal of any kind is recorded for an
        # address past it but that one.
        if not self._handshakes.allow(address):
            HANDSHAKES.labels("throttled").inc()
            response = _later(
                connection,
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too many handshakes from this address",
                self._address_spread,
            )
        else:
            response, known = await self._decide(connection, request, address)
        if response is None:
            return None
        if cp_id is not None and not is_charge_point_id(cp_id):
            cp_id = None
        if cp_id is not None and not known:
            # Refused before the registry was asked: known if it let this id in lately, or this
            # gateway holds it now (a stranger at a connected CP's id). A CP that speaks no
            # OCPP version of ours or no WebSocket (400, 426) is looked up: that is a
            # misconfigured CP an operator wants to see. Overload refusals (429, 503) ask
            # nothing more of anyone.
            known = self.authorizer.knows(cp_id) or self._holds(cp_id)
            if not known and response.status_code in (400, 426):
                known = await self.authorizer.look_up(cp_id)
        self.refusals.refused(
            cp_id,
            known,
            address,
            response.status_code,
            response.body.decode("utf-8", "replace").strip(),
            response.headers.get("Retry-After"),
        )
        return response

    async def _decide(
        self, connection: ServerConnection, request: Request, address: str
    ) -> tuple[Response | None, bool]:
        """The refusal (None to let it open) and whether the registry said it knows the id."""
        path = request.path.split("?", 1)[0]
        if "upgrade" not in request.headers.get("Connection", "").lower():
            # Plain HTTP: nothing here but WebSocket upgrades (probes live on the internal port).
            if cp_id_of(path) is None:
                return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n"), False
            refusal = connection.respond(
                HTTPStatus.UPGRADE_REQUIRED, "Charge points connect with a WebSocket upgrade\n"
            )
            refusal.headers["Upgrade"] = "websocket"  # RFC 9110 15.5.22: 426 names the protocol
            return refusal, False
        cp_id = cp_id_of(path)
        if cp_id is None:
            return (
                connection.respond(HTTPStatus.NOT_FOUND, "Charge points connect at /ocpp/{id}\n"),
                False,
            )
        if not is_charge_point_id(cp_id):
            return (
                connection.respond(
                    HTTPStatus.BAD_REQUEST, f"Charge point id must be {CHARGE_POINT_ID_CHARS}\n"
                ),
                False,
            )
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        ]
        if not any(subprotocol in offered for subprotocol in SUBPROTOCOLS):
            # What the client offered is not repeated: it is the client's text, not ours.
            return (
                connection.respond(
                    HTTPStatus.BAD_REQUEST,
                    f"Sec-WebSocket-Protocol must offer {' or '.join(SUBPROTOCOLS)}\n",
                ),
                False,
            )
        pair = f"{cp_id} {address}"
        if self._failures.exhausted(pair):
            HANDSHAKES.labels("throttled").inc()
            return (
                _later(
                    connection,
                    HTTPStatus.TOO_MANY_REQUESTS,
                    "Too many failed or unauthenticated handshakes for this charge point id",
                    self._failure_spread,
                ),
                False,
            )
        if not await self.slots.acquire():
            HANDSHAKES.labels("overloaded").inc()
            return (
                _refused(
                    connection,
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "Too many charge points are connecting at once",
                    self.slots.refused(),
                ),
                False,
            )
        try:
            if connection.transport.is_closing():
                # It gave up while it waited its turn: the registry is not asked for it.
                HANDSHAKES.labels("abandoned").inc()
                return (
                    connection.respond(
                        HTTPStatus.SERVICE_UNAVAILABLE, "Closed while waiting for admission\n"
                    ),
                    False,
                )
            response, known = await self._admit(connection, request, cp_id, address)
        finally:
            self.slots.release()
        decision = self._admitted.get(connection)
        if decision is None or not decision.authenticated:
            self._failures.allow(pair)  # spends a token
        return response, known

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
        self, connection: ServerConnection, request: Request, cp_id: str, address: str
    ) -> tuple[Response | None, bool]:
        credentials = basic_credentials(request.headers.get("Authorization"))
        if credentials is not None and credentials[0] != cp_id:
            HANDSHAKES.labels("unauthorized").inc()
            return _unauthorized(connection, "The Basic auth username must be the CP id"), False
        try:
            decision = await self.authorizer.decide(
                cp_id,
                credentials[1] if credentials else None,
                tls=self._tls,
                client_cn=_client_cn(connection),
                address=address,
            )
        except (RpcError, RpcUnavailable) as exc:
            HANDSHAKES.labels("unavailable").inc()
            return (
                _refused(
                    connection,
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"The central system cannot admit CPs right now ({exc})",
                    self.slots.refused(),
                ),
                False,
            )
        if not decision.allowed:
            HANDSHAKES.labels("refused").inc()
            if decision.status == HTTPStatus.UNAUTHORIZED:
                return _unauthorized(connection, decision.reason), decision.known
            refusal = connection.respond(HTTPStatus(decision.status), decision.reason + "\n")
            return refusal, decision.known
        HANDSHAKES.labels("admitted").inc()
        self._admitted[connection] = decision
        return None, decision.known


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
    return _refused(connection, status, reason, retry_after(spread))


def _refused(
    connection: ServerConnection, status: HTTPStatus, reason: str, seconds: int
) -> Response:
    """A refusal the CP should retry after `seconds`."""
    response = connection.respond(status, reason + "\n")
    response.headers["Retry-After"] = str(seconds)
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


def subprotocol_chooser(
    preferred: OcppVersion,
) -> Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]:
    """websockets' `select_subprotocol`: the preferred version's subprotocol when the CP offers
    it, else the other one it offers (the handshake checked it offers one; None refuses)."""
    order = [preferred.subprotocol] + [s for s in SUBPROTOCOLS if s != preferred.subprotocol]

    def choose(_: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return next((Subprotocol(s) for s in order if s in offered), None)

    return choose

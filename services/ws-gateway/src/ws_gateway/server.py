"""The WebSocket server: handshake checks, presence, takeover, drain."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import ssl
import weakref
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import orjson
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError
from prometheus_client import Counter, Gauge
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from csms_shared.bus.events import event_body
from csms_shared.bus.rpc import RpcError, RpcUnavailable
from csms_shared.ocpp._base import format_datetime, utcnow
from csms_shared.ocpp.identity import CHARGE_POINT_ID_CHARS, is_charge_point_id

from .auth import Decision, HandshakeAuthorizer, basic_credentials
from .bus import GatewayBus
from .limits import AddressLimiter
from .seen import SeenTracker
from .session import ChargePointSession
from .settings import Settings

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
OCPP_PATH = "/ocpp/"
CONNECTED = Gauge("gateway_connections", "Charge points connected to this gateway")
HANDSHAKES = Counter("gateway_handshakes_total", "WebSocket handshakes by outcome", ["outcome"])

CLOSE_TAKEN_OVER = 4000  # private-use close code: a newer connection for this id took over
CLOSE_CREDENTIALS_CHANGED = 4001  # private-use: reconnect with the CP's new credentials
CLOSE_UNAVAILABLE = 1011  # internal error: the broker could not be reached
CLOSE_GOING_AWAY = 1001
DRAIN_STEP = 0.1


def _cp_id(path: str) -> str | None:
    if not path.startswith(OCPP_PATH):
        return None
    return unquote(path[len(OCPP_PATH) :].split("?", 1)[0])


class Gateway:
    """Holds this process's charge point connections and their presence on the bus."""

    def __init__(
        self, settings: Settings, bus: GatewayBus, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.sessions: dict[str, ChargePointSession] = {}
        # Tells this process's beats and stop from those of another one under the same id.
        self.started_at = format_datetime(utcnow())
        self.seen = SeenTracker(bus.instance_id, bus.publish_event)
        self._server: Server | None = None
        self._ssl = ssl_context
        assert bus.rpc is not None, "start the bus first"
        self._authorizer = HandshakeAuthorizer(
            bus.rpc, settings.auth_cache_seconds, timeout=settings.admission_timeout
        )
        self._handshakes = AddressLimiter(
            settings.handshakes_per_address_per_second, settings.handshake_burst_per_address
        )
        self._trusted = [ipaddress.ip_network(net) for net in settings.trusted_proxies]
        # Failed or unauthenticated handshakes per (CP id, source address): a stranger's
        # failures never spend the budget of the real CP at its own address.
        self._failures = AddressLimiter(
            settings.handshakes_per_charge_point_per_second,
            settings.handshake_burst_per_charge_point,
        )
        # Events missed while the broker connection was down may have invalidated decisions.
        bus.on_reconnect = self._on_reconnect
        # Decisions made in process_request, read by the connection handler.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Decision] = (
            weakref.WeakKeyDictionary()
        )
        bus.on_command = self._on_command
        bus.on_control = self._on_control
        bus.on_event = self._on_event
        self.draining = False

    # -- handshake -------------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path = request.path.split("?", 1)[0]
        if "upgrade" not in request.headers.get("Connection", "").lower():
            # Plain HTTP: nothing here but WebSocket upgrades (probes live on the internal port).
            if _cp_id(path) is None:
                return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
            refusal = connection.respond(
                HTTPStatus.UPGRADE_REQUIRED, "Charge points connect with a WebSocket upgrade\n"
            )
            refusal.headers["Upgrade"] = "websocket"  # RFC 9110 15.5.22: 426 names the protocol
            return refusal
        cp_id = _cp_id(path)
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
            return connection.respond(
                HTTPStatus.TOO_MANY_REQUESTS, "Too many handshakes from this address\n"
            )
        pair = f"{cp_id} {address}"
        if self._failures.exhausted(pair):
            HANDSHAKES.labels("throttled").inc()
            return connection.respond(
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too many failed or unauthenticated handshakes for this charge point id\n",
            )
        response = await self._admit(connection, request, cp_id)
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
            decision = await self._authorizer.decide(
                cp_id,
                credentials[1] if credentials else None,
                tls=self._ssl is not None,
                client_cn=_client_cn(connection),
            )
        except (RpcError, RpcUnavailable) as exc:
            log.warning("cannot admit %s: registry unavailable (%s)", cp_id, exc)
            HANDSHAKES.labels("unavailable").inc()
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "The central system cannot admit CPs right now\n"
            )
        if not decision.allowed:
            HANDSHAKES.labels("refused").inc()
            log.info("%s refused at handshake: %s", cp_id, decision.reason)
            if decision.status == HTTPStatus.UNAUTHORIZED:
                return _unauthorized(connection, decision.reason)
            return connection.respond(HTTPStatus(decision.status), decision.reason + "\n")
        HANDSHAKES.labels("admitted").inc()
        self._admitted[connection] = decision
        return None

    async def _ready(self) -> None:
        if self.bus.connection is None or self.bus.connection.is_closed:
            raise RuntimeError("broker connection is down")

    # -- connections -----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        cp_id = _cp_id(ws.request.path if ws.request else "") or ""
        decision = self._admitted.pop(ws, None)
        session = ChargePointSession(
            cp_id,
            ws,
            self.bus,
            self.settings,
            self.seen,
            registration_status=decision.registration_status if decision else "Accepted",
        )
        previous = self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        CONNECTED.set(len(self.sessions))
        log.info("%s connected from %s (%s)", cp_id, _peer(ws), session.connection_id)
        # The CP is served at once; binding its commands and announcing it (three broker round
        # trips) go on beside: in a reconnect storm its BootNotification waited for them.
        announced = asyncio.create_task(self._announce(session, previous))
        try:
            await session.run()
        finally:
            # Its station.connected leaves before its station.disconnected, in that order.
            await announced
            await self._forget(session)

    async def _announce(
        self, session: ChargePointSession, previous: ChargePointSession | None
    ) -> None:
        """Receive the CP's commands here, take it over from any other gateway, tell the registry
        and integrations; a CP that cannot be announced (broker down) is disconnected."""
        try:
            if previous is not None:
                # Same gateway: the binding stays, only the old socket goes.
                await previous.ws.close(
                    CLOSE_TAKEN_OVER, "A newer connection for this id took over"
                )
            else:
                await self.bus.bind_charge_point(session.cp_id)
            presence = self._presence(session)
            await self.bus.publish_control(presence)
            await self.bus.publish_event(
                "station.connected",
                event_body(
                    "station.connected",
                    at=session.connected_at,
                    remoteAddress=_peer(session.ws),
                    subprotocol=session.ws.subprotocol,
                    **presence,
                ),
            )
        except Exception:
            log.warning("could not announce %s; disconnecting it", session.cp_id, exc_info=True)
            await session.ws.close(CLOSE_UNAVAILABLE, "The central system is unavailable")

    def _presence(self, session: ChargePointSession) -> dict[str, Any]:
        return {
            "chargePointId": session.cp_id,
            "gateway": self.bus.instance_id,
            "connectionId": session.connection_id,
            "connectedAt": format_datetime(session.connected_at),
        }

    async def _forget(self, session: ChargePointSession) -> None:
        if self.sessions.get(session.cp_id) is session:
            del self.sessions[session.cp_id]
            CONNECTED.set(len(self.sessions))
            # While draining, the CP's binding stays until this gateway's queue goes with its
            # connection: thousands of unbinds would compete in the broker with the binds of
            # the gateways the CPs move to. A command for a CP that moved meanwhile reaches
            # both queues; this one ignores it (_on_command) and the new gateway answers.
            if not self.draining:
                try:
                    await self.bus.unbind_charge_point(session.cp_id)
                except Exception:
                    log.warning("could not unbind %s (broker down?)", session.cp_id)
        ws = session.ws
        try:
            await self.bus.publish_event(
                "station.disconnected",
                event_body(
                    "station.disconnected",
                    code=ws.close_code,
                    reason=ws.close_reason or "",
                    **self._presence(session),
                ),
            )
        except Exception:
            log.warning("could not publish station.disconnected for %s", session.cp_id)
        log.info("%s disconnected (%s %s)", session.cp_id, ws.close_code, ws.close_reason or "")

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        if body.get("gateway") == self.bus.instance_id:
            return
        session = self.sessions.get(body.get("chargePointId", ""))
        if session is None:
            return
        newer_at = datetime.fromisoformat(body["connectedAt"])
        if session.connected_at <= newer_at:
            log.info("%s moved to gateway %s; closing here", session.cp_id, body.get("gateway"))
            await session.ws.close(CLOSE_TAKEN_OVER, "A newer connection for this id took over")

    def _on_reconnect(self) -> None:
        log.info("broker connection re-established: cached handshake decisions dropped")
        self._authorizer.clear()

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        body = orjson.loads(message.body)
        if message.routing_key == "station.credentials_changed":
            cp_id = str(body.get("chargePointId", ""))
            self._authorizer.invalidate(cp_id)
            session = self.sessions.get(cp_id)
            if session is not None and body.get("disconnect") is True and _before(session, body):
                log.info("%s: credentials changed; closing its connection", cp_id)
                await session.ws.close(
                    CLOSE_CREDENTIALS_CHANGED, "Credentials changed; reconnect with the new ones"
                )

    async def _on_command(self, message: AbstractIncomingMessage) -> None:
        cp_id = message.routing_key or ""
        session = self.sessions.get(cp_id)
        if session is None:
            # Our binding outlived the connection by a moment; whoever holds it now answers.
            return
        if not session.enqueue_command(message) and message.reply_to:
            await self.bus.reply(message.reply_to, message.correlation_id, {"status": "busy"})

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening."""
        self._server = await serve(
            self._handler,
            self.settings.http_host,
            self.settings.port,
            subprotocols=[SUBPROTOCOL],
            process_request=self._process_request,
            max_size=self.settings.max_frame_bytes,
            ping_interval=self.settings.ping_interval,
            ping_timeout=self.settings.ping_timeout,
            # permessage-deflate triples an idle connection's memory; off unless asked for.
            compression="deflate" if self.settings.compression else None,
            max_queue=16,
            server_header="csms-ws-gateway",
            ssl=self._ssl,
            backlog=self.settings.listen_backlog,  # passed on to loop.create_server
        )
        log.info(
            "gateway %s listening on %s://%s:%d%s{id}",
            self.bus.instance_id,
            "wss" if self._ssl else "ws",
            self.settings.http_host,
            self.settings.port,
            OCPP_PATH,
        )

    async def beat_once(self) -> None:
        """Tell the registry this gateway is alive (a failed publish is logged, not raised)."""
        try:
            await self.bus.publish_event(
                "gateway.heartbeat",
                event_body(
                    "gateway.heartbeat",
                    gateway=self.bus.instance_id,
                    startedAt=self.started_at,
                    connections=len(self.sessions),
                    interval=self.settings.beat_interval,
                ),
            )
        except DeliveryError as exc:
            # Nobody follows beats yet (the registry has not declared its queue): not an error.
            log.warning("gateway.heartbeat not delivered: %s", exc)
        except Exception:
            log.warning("could not publish gateway.heartbeat", exc_info=True)

    async def beat(self) -> None:
        """`beat_once` every `beat_interval` seconds, the first one after an interval."""
        while True:
            await asyncio.sleep(self.settings.beat_interval)
            await self.beat_once()

    async def drain(self) -> None:
        """Stop accepting and close every connection with 1001 so CPs reconnect elsewhere."""
        if self._server is None:
            return
        self.draining = True
        sessions = list(self.sessions.values())
        log.info("draining %d connections", len(sessions))
        self._server.close(close_connections=False)
        # Close in slices over drain_spread_seconds: the fleet reconnects elsewhere as a ramp,
        # not as one storm.
        steps = max(1, int(self.settings.drain_spread_seconds / DRAIN_STEP))
        size = max(1, math.ceil(len(sessions) / steps))
        closing: list[asyncio.Task[None]] = []
        for start in range(0, len(sessions), size):
            for session in sessions[start : start + size]:
                closing.append(
                    asyncio.create_task(session.ws.close(CLOSE_GOING_AWAY, "gateway shutting down"))
                )
            await asyncio.sleep(DRAIN_STEP if start + size < len(sessions) else 0)
        try:
            await asyncio.wait_for(self._server.wait_closed(), self.settings.drain_timeout)
        except TimeoutError:
            log.warning("drain timed out with %d connections left", len(self.sessions))
        await asyncio.gather(*closing, return_exceptions=True)
        await self.seen.flush()
        try:
            await self.bus.publish_event(
                "gateway.stopped",
                event_body(
                    "gateway.stopped",
                    gateway=self.bus.instance_id,
                    startedAt=self.started_at,
                    at=utcnow(),
                ),
            )
        except Exception:
            log.warning("could not publish gateway.stopped")


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


# How much later than a credentials change a connection may have been made and still have used
# the old credentials (the change is stamped before its transaction commits; clocks differ).
CHANGE_MARGIN = timedelta(seconds=1)


def _before(session: ChargePointSession, change: dict[str, Any]) -> bool:
    """True when the session may have been admitted with the credentials before `change`."""
    try:
        at = datetime.fromisoformat(str(change["at"]))
    except (KeyError, ValueError):
        return True
    return session.connected_at <= at + CHANGE_MARGIN


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


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


__all__ = ["Gateway"]

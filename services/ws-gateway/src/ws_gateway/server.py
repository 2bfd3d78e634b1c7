"""The WebSocket server: handshake checks, presence, takeover, drain."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import orjson
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import Gauge
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csms_shared.bus.events import event_body
from csms_shared.health import probe_response
from csms_shared.ocpp._base import format_datetime, utcnow

from .bus import GatewayBus
from .session import ChargePointSession
from .settings import Settings

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
OCPP_PATH = "/ocpp/"
# Security whitepaper 1.6: the identity is at most 48 characters and has no ':' (Basic auth).
CHARGE_POINT_ID = re.compile(r"[A-Za-z0-9._\-*+|@=]{1,48}")
CONNECTED = Gauge("gateway_connections", "Charge points connected to this gateway")

CLOSE_TAKEN_OVER = 4000  # private-use close code: a newer connection for this id took over


def _cp_id(path: str) -> str | None:
    if not path.startswith(OCPP_PATH):
        return None
    return unquote(path[len(OCPP_PATH) :].split("?", 1)[0])


class Gateway:
    """Holds this process's charge point connections and their presence on the bus."""

    def __init__(self, settings: Settings, bus: GatewayBus) -> None:
        self.settings = settings
        self.bus = bus
        self.sessions: dict[str, ChargePointSession] = {}
        self._server: Server | None = None
        bus.on_command = self._on_command
        bus.on_control = self._on_control

    # -- handshake -------------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path = request.path.split("?", 1)[0]
        if "upgrade" not in request.headers.get("Connection", "").lower():
            status, body, ctype = await probe_response(path, self._ready)
            code = HTTPStatus(int(status.split()[0]))
            headers = Headers(
                [
                    ("Content-Type", ctype),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ]
            )
            return Response(code.value, code.phrase, headers, body)
        cp_id = _cp_id(path)
        if cp_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Charge points connect at /ocpp/{id}\n")
        if not CHARGE_POINT_ID.fullmatch(cp_id):
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                "Charge point id must be 1-48 characters of A-Z a-z 0-9 . _ - * + | @ =\n",
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
        return None

    async def _ready(self) -> None:
        if self.bus.connection is None or self.bus.connection.is_closed:
            raise RuntimeError("broker connection is down")

    # -- connections -----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        cp_id = _cp_id(ws.request.path if ws.request else "") or ""
        session = ChargePointSession(cp_id, ws, self.bus, self.settings)
        previous = self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        CONNECTED.set(len(self.sessions))
        if previous is not None:
            # Same gateway: the binding stays, only the old socket goes.
            await previous.ws.close(CLOSE_TAKEN_OVER, "A newer connection for this id took over")
        else:
            await self.bus.bind_charge_point(cp_id)
        presence = self._presence(session)
        await self.bus.publish_control(presence)
        await self.bus.publish_event(
            "station.connected",
            event_body(
                "station.connected",
                at=session.connected_at,
                remoteAddress=_peer(ws),
                subprotocol=ws.subprotocol,
                **presence,
            ),
        )
        log.info("%s connected from %s (%s)", cp_id, _peer(ws), session.connection_id)
        try:
            await session.run()
        finally:
            await self._forget(session)

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
        )
        log.info(
            "gateway %s listening on ws://%s:%d%s{id}",
            self.bus.instance_id,
            self.settings.http_host,
            self.settings.port,
            OCPP_PATH,
        )

    async def beat(self) -> None:
        """Tell the registry this gateway is alive, every `beat_interval` seconds."""
        while True:
            try:
                await self.bus.publish_event(
                    "gateway.heartbeat",
                    event_body(
                        "gateway.heartbeat",
                        gateway=self.bus.instance_id,
                        connections=len(self.sessions),
                        interval=self.settings.beat_interval,
                    ),
                )
            except Exception:
                log.warning("could not publish gateway.heartbeat", exc_info=True)
            await asyncio.sleep(self.settings.beat_interval)

    async def drain(self) -> None:
        """Stop accepting and close every connection with 1001 so CPs reconnect elsewhere."""
        if self._server is None:
            return
        log.info("draining %d connections", len(self.sessions))
        self._server.close(close_connections=True)
        try:
            await asyncio.wait_for(self._server.wait_closed(), self.settings.drain_timeout)
        except TimeoutError:
            log.warning("drain timed out with %d connections left", len(self.sessions))
        try:
            await self.bus.publish_event(
                "gateway.stopped",
                event_body("gateway.stopped", gateway=self.bus.instance_id, at=utcnow()),
            )
        except Exception:
            log.warning("could not publish gateway.stopped")


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


__all__ = ["Gateway"]

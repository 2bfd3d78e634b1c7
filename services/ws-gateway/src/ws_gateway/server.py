"""The WebSocket server: connections, presence, takeover, commands in, drain."""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from datetime import timedelta

from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError
from prometheus_client import Gauge
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from csms_shared.bus.message_log import RecordKind
from csms_shared.contracts.envelopes import BadEnvelope, CommandOutcome, Presence
from csms_shared.contracts.events import (
    CredentialsChanged,
    GatewayHeartbeat,
    GatewayStopped,
    InvalidEvent,
    StationConnected,
    StationDisconnected,
    read_event,
)
from csms_shared.log_context import bind
from csms_shared.ocpp import format_datetime, utcnow
from csms_shared.ocpp.version import OcppVersion
from csms_shared.stopping import StopBudget

from .bus import GatewayBus
from .handshake import OCPP_PATH, SUBPROTOCOLS, Handshakes, cp_id_of, subprotocol_chooser
from .keepalive import Keepalive
from .message_log import MessageLog
from .seen import SeenTracker
from .session import ChargePointSession
from .settings import Settings

log = logging.getLogger(__name__)

CONNECTED = Gauge("csms_gateway_connections", "Charge points connected to this gateway")

CLOSE_TAKEN_OVER = 4000  # private-use close code: a newer connection for this id took over
CLOSE_CREDENTIALS_CHANGED = 4001  # private-use: reconnect with the CP's new credentials
CLOSE_UNAVAILABLE = 1011  # internal error: the broker could not be reached
CLOSE_GOING_AWAY = 1001
DRAIN_STEP = 0.1


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
        self.message_log = MessageLog(settings, bus.instance_id)
        self.handshakes = Handshakes(
            settings,
            bus.rpc,
            tls=ssl_context is not None,
            message_log=self.message_log,
            holds=self.sessions.__contains__,
        )
        # Events missed while the broker connection was down may have invalidated decisions.
        bus.on_reconnect = self._on_reconnect
        bus.on_command = self._on_command
        bus.on_control = self._on_control
        bus.on_event = self._on_event
        self.draining = False
        # Pings every connection from one task (keepalive.py), not websockets' task per
        # connection.
        self.keepalive = Keepalive(settings.ping_interval, settings.ping_timeout)
        self._keepalive_task: asyncio.Task[None] | None = None
        # Sessions whose binding and announcement are still under way (`_announce`).
        self._announcing: dict[ChargePointSession, asyncio.Task[None]] = {}

    # -- connections -----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        cp_id = cp_id_of(ws.request.path if ws.request else "") or ""
        decision = self.handshakes.admitted(ws)
        _forget_handshake_headers(ws)
        session = ChargePointSession(
            cp_id,
            ws,
            self.bus,
            self.settings,
            self.seen,
            registration_status=decision.registration_status if decision else "Accepted",
            message_log=self.message_log,
            ocpp_version=OcppVersion.of_subprotocol(ws.subprotocol),
        )
        self.message_log.event(
            cp_id,
            RecordKind.CONNECTED,
            {
                "address": _peer(ws),
                "subprotocol": ws.subprotocol,
                "securityProfile": decision.security_profile if decision else None,
                "gateway": self.bus.instance_id,
            },
            session.connection_id,
        )
        # Every line this connection's task (and those it starts) logs names the CP.
        bind(charge_point_id=cp_id, connection_id=session.connection_id)
        previous = self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        CONNECTED.set(len(self.sessions))
        log.info("%s connected from %s (%s)", cp_id, _peer(ws), session.connection_id)
        # The CP is served at once; binding its commands and announcing it (three broker round
        # trips) go on beside: in a reconnect storm its BootNotification waited for them.
        # Held only while it runs: a finished task kept for the connection's life costs about
        # 0.6 KiB of an idle one.
        announcing = asyncio.create_task(self._announce(session, previous))
        self._announcing[session] = announcing
        announcing.add_done_callback(lambda _: self._announcing.pop(session, None))
        del announcing
        self.keepalive.add(ws)
        try:
            await session.run()
        finally:
            self.keepalive.discard(ws)
            # Its station.connected leaves before its station.disconnected, in that order; it
            # is forgotten however its announcement ended.
            still = self._announcing.get(session)
            try:
                if still is not None:
                    await asyncio.wait({still})
            finally:
                await self._forget(session)

    async def _announce(
        self, session: ChargePointSession, previous: ChargePointSession | None
    ) -> None:
        """Receive the CP's commands here, take it over from any other gateway, tell the registry
        and integrations; a CP that cannot be announced (broker down) is disconnected."""
        try:
            if previous is not None:
                # Same gateway: the binding stays, only the old socket goes.
                self._log_takeover(previous, self.bus.instance_id)
                await previous.ws.close(
                    CLOSE_TAKEN_OVER, "A newer connection for this id took over"
                )
            else:
                await self.bus.bind_charge_point(session.cp_id)
            presence = self._presence(session)
            await self.bus.publish_control(presence)
            connected = StationConnected(
                at=session.connected_at,
                remote_address=_peer(session.ws),
                subprotocol=session.ws.subprotocol,
                charge_point_id=presence.charge_point_id,
                gateway=presence.gateway,
                connection_id=presence.connection_id,
                connected_at=presence.connected_at,
            )
            await self.bus.publish_event(connected)
        except Exception:
            log.warning("could not announce %s; disconnecting it", session.cp_id, exc_info=True)
            await session.ws.close(CLOSE_UNAVAILABLE, "The central system is unavailable")

    def _presence(self, session: ChargePointSession) -> Presence:
        return Presence(
            charge_point_id=session.cp_id,
            gateway=self.bus.instance_id,
            connection_id=session.connection_id,
            connected_at=session.connected_at,
        )

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
            presence = self._presence(session)
            gone = StationDisconnected(
                code=ws.close_code,
                reason=ws.close_reason or "",
                charge_point_id=presence.charge_point_id,
                gateway=presence.gateway,
                connection_id=presence.connection_id,
                connected_at=presence.connected_at,
            )
            await self.bus.publish_event(gone)
        except Exception:
            log.warning("could not publish station.disconnected for %s", session.cp_id)
        log.info("%s disconnected (%s %s)", session.cp_id, ws.close_code, ws.close_reason or "")
        self.message_log.event(
            session.cp_id,
            RecordKind.CLOSED,
            {"code": ws.close_code, "reason": ws.close_reason or "", "by": _closed_by(ws)},
            session.connection_id,
        )

    def _log_takeover(self, session: ChargePointSession, gateway: str) -> None:
        self.message_log.event(
            session.cp_id,
            RecordKind.TAKEOVER,
            {"byGateway": gateway, "gateway": self.bus.instance_id},
            session.connection_id,
        )

    async def _on_control(self, message: AbstractIncomingMessage) -> None:
        try:
            presence = Presence.decode(message.body)
        except BadEnvelope as exc:
            log.error("ignoring a malformed control message: %s", exc)
            return
        if presence.gateway == self.bus.instance_id:
            return
        session = self.sessions.get(presence.charge_point_id)
        if session is None:
            return
        if session.connected_at <= presence.connected_at:
            log.info("%s moved to gateway %s; closing here", session.cp_id, presence.gateway)
            self._log_takeover(session, presence.gateway)
            await session.ws.close(CLOSE_TAKEN_OVER, "A newer connection for this id took over")

    def _on_reconnect(self) -> None:
        log.info("broker connection re-established: cached handshake decisions dropped")
        self.handshakes.authorizer.clear()

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        try:
            event = read_event(message.routing_key or "", message.body)
        except InvalidEvent as exc:
            log.warning("ignoring an invalid %s event: %s", message.routing_key, exc)
            return
        if isinstance(event, CredentialsChanged):
            cp_id = event.charge_point_id
            self.handshakes.authorizer.invalidate(cp_id)
            session = self.sessions.get(cp_id)
            # Only a session that may have been admitted with the old credentials.
            before = session is not None and session.connected_at <= event.at + CHANGE_MARGIN
            if session is not None and event.disconnect and before:
                log.info("%s: credentials changed; closing its connection", cp_id)
                await session.ws.close(
                    CLOSE_CREDENTIALS_CHANGED, "Credentials changed; reconnect with the new ones"
                )

    async def _on_command(self, message: AbstractIncomingMessage) -> None:
        """A command from `ocpp.commands` (routing key: the CP id) to the session holding the
        CP; `busy` when its queue is full."""
        session = self.sessions.get(message.routing_key or "")
        if session is None:
            # Our binding outlived the connection by a moment; whoever holds it now answers.
            return
        if not session.enqueue_command(message) and message.reply_to:
            await self.bus.reply(
                message.reply_to, message.correlation_id, CommandOutcome(status="busy")
            )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening."""
        self._server = await serve(
            self._handler,
            self.settings.http_host,
            self.settings.port,
            subprotocols=[Subprotocol(s) for s in SUBPROTOCOLS],
            select_subprotocol=subprotocol_chooser(self.settings.preferred_ocpp_version),
            process_request=self.handshakes.process_request,
            max_size=self.settings.max_frame_bytes,
            ping_interval=None,  # one task pings every connection: `self.keepalive`
            # permessage-deflate triples an idle connection's memory; off unless asked for.
            compression="deflate" if self.settings.compression else None,
            max_queue=16,
            open_timeout=self.settings.handshake_timeout,
            server_header="csms-ws-gateway",
            ssl=self._ssl,
            backlog=self.settings.listen_backlog,  # passed on to loop.create_server
        )
        self._keepalive_task = asyncio.create_task(self.keepalive.run(), name="keepalive")
        self._keepalive_task.add_done_callback(_stopped_pinging)
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
            beat = GatewayHeartbeat(
                gateway=self.bus.instance_id,
                started_at=self.started_at,
                connections=len(self.sessions),
                interval=self.settings.beat_interval,
            )
            await self.bus.publish_event(beat)
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

    async def drain(self) -> StopBudget:
        """Stop accepting and close every connection with 1001 so CPs reconnect elsewhere, then
        say goodbye; the rest of the stop shares the budget returned, begun once the connections
        were closed (preStop, the drain and it fit the orchestrator's grace)."""
        if self._server is None:
            return StopBudget()
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
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            await asyncio.gather(self._keepalive_task, return_exceptions=True)
        # The goodbye needs the broker: bounded, so a broker (or vhost) that is gone does not
        # hold the stop until SIGKILL. Unsaid, the registry learns of the stop from the beats.
        stop = StopBudget()
        await stop.step(self._goodbye(), "the last-seen flush and gateway.stopped")
        return stop

    async def _goodbye(self) -> None:
        await self.seen.flush()
        stopped = GatewayStopped(gateway=self.bus.instance_id, started_at=self.started_at)
        await self.bus.publish_event(stopped)


# How much later than a credentials change a connection may have been made and still have used
# the old credentials (the change is stamped before its transaction commits; clocks differ).
CHANGE_MARGIN = timedelta(seconds=1)


def _closed_by(ws: ServerConnection) -> str:
    """Who closed the connection first: the charge point, the gateway, or nobody (it broke)."""
    protocol = getattr(ws, "protocol", None)
    if protocol is None:
        return "unknown"
    if protocol.close_rcvd is None and protocol.close_sent is None:
        return "none"
    if protocol.close_rcvd_then_sent is None:
        return "charge point" if protocol.close_rcvd is not None else "gateway"
    return "charge point" if protocol.close_rcvd_then_sent else "gateway"


def _stopped_pinging(task: asyncio.Task[None]) -> None:
    """The keepalive task ended: only a drain may end it, anything else is an error."""
    if not task.cancelled() and task.exception() is not None:
        log.error("keepalive stopped: no connection is pinged", exc_info=task.exception())


def _forget_handshake_headers(ws: ServerConnection) -> None:
    """The handshake was decided: its request's and response's headers are read no more, yet
    websockets keeps both for the connection's life (about 4.7 KiB of an idle one)."""
    for message in (ws.request, ws.response):
        if message is not None:
            message.headers.clear()


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


__all__ = ["Gateway"]

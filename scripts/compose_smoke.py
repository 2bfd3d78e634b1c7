"""What `make compose-test` checks against the running compose suite, from outside.

Charge points speak OCPP 1.6 over ws://localhost:9000/ocpp/{id} (nginx in front of the
gateways); operators use the REST API on http://localhost:8080. scripts/compose_test.py starts
and stops the suite; this module only talks to it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

CP_URL = "ws://localhost:9000/ocpp/{}"
API_URL = "http://localhost:8080"
CALL, RESULT, ERROR = 2, 3, 4
_ids = itertools.count(1)
T = TypeVar("T")


class SmokeError(Exception):
    """A check of the running suite failed; the message says which and what was seen."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def wait_for(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 60.0) -> T:
    """Probe until it returns something other than None or False; SmokeError at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = await probe()
        except (httpx.HTTPError, OSError, SmokeError) as exc:
            value, last = None, exc
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise SmokeError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last})")
        await asyncio.sleep(0.5)


class ChargePoint:
    """One OCPP 1.6 charge point that answers commands and reconnects when it is dropped."""

    def __init__(self, cp_id: str) -> None:
        self.cp_id = cp_id
        self.close_codes: list[int | None] = []
        # When each connection closed and each boot was accepted (monotonic seconds): the
        # time a CP was out is from a close to the next boot.
        self.closed_at: list[float] = []
        self.booted_at: list[float] = []
        self.commands: list[str] = []
        self.boots = 0
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self, timeout: float = 60.0) -> None:
        """Connect (retrying until the deadline) and keep reconnecting after every close."""
        self._runner = asyncio.create_task(self._run())
        await self.connected(timeout)

    async def connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError as exc:
            raise SmokeError(f"{self.cp_id} did not connect within {timeout:.0f} s") from exc

    async def stop(self) -> None:
        if self._runner:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._ws:
            await self._ws.close()

    async def _run(self) -> None:
        while True:
            try:
                async with connect(
                    CP_URL.format(self.cp_id),
                    subprotocols=[Subprotocol("ocpp1.6")],
                    open_timeout=10,
                ) as ws:
                    self._ws = ws
                    reader = asyncio.create_task(self._read(ws))
                    await self._boot()
                    self._connected.set()
                    await reader
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed):
                pass
            self._connected.clear()
            self._ws = None
            await asyncio.sleep(0.5)  # a reconnect back-off, as real CPs have

    async def _boot(self) -> None:
        reply = await self.call(
            "BootNotification", {"chargePointVendor": "csms", "chargePointModel": "compose"}
        )
        if reply.get("status") != "Accepted":
            raise SmokeError(f"{self.cp_id}: BootNotification answered {reply}")
        self.boots += 1
        self.booted_at.append(time.monotonic())
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        await self.call("StatusNotification", status)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                if frame[0] == CALL:
                    self.commands.append(frame[2])
                    await ws.send(orjson.dumps([RESULT, frame[1], answer(frame[2])]).decode())
                elif frame[1] in self._pending:
                    self._pending.pop(frame[1]).set_result(frame)
        except ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)
        self.closed_at.append(time.monotonic())
        for future in self._pending.values():
            future.set_exception(ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent))
        self._pending.clear()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return its CALLRESULT payload; a CALLERROR is a SmokeError."""
        if self._ws is None:
            raise SmokeError(f"{self.cp_id} is not connected")
        message_id = f"{self.cp_id}-{next(_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self._ws.send(orjson.dumps([CALL, message_id, action, payload]).decode())
        frame = await asyncio.wait_for(future, 30)
        if frame[0] == ERROR:
            raise SmokeError(f"{self.cp_id} {action}: CALLERROR {frame[2:]}")
        result: dict[str, Any] = frame[2]
        return result


def answer(action: str) -> dict[str, Any]:
    """What a well-behaved 1.6 charge point answers to the central system's commands."""
    if action == "GetConfiguration":
        key = {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
        return {"configurationKey": [key]}
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    return {"status": "Accepted"}


class Api:
    """command-api's REST API with the bootstrap admin key."""

    def __init__(self, admin_key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=API_URL, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
        )

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(f"/api/v1{path}", params=params)
        if response.status_code != 200:
            raise SmokeError(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(f"/api/v1{path}", json=body)
        if response.status_code not in (200, 201):
            raise SmokeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    async def charge_point(self, cp_id: str) -> dict[str, Any] | None:
        response = await self.http.get(f"/api/v1/charge-points/{cp_id}")
        return response.json() if response.status_code == 200 else None

    async def close(self) -> None:
        await self.http.aclose()


async def online_on(api: Api, cp_id: str, avoid: str = "") -> str | None:
    """The gateway holding `cp_id` once the registry shows it online (and not on `avoid`)."""
    cp = await api.charge_point(cp_id)
    if cp and cp.get("online") and cp.get("gateway") and cp["gateway"] != avoid:
        return str(cp["gateway"])
    return None


async def boot_command_transaction_console(api: Api, step: Callable[[str], None]) -> None:
    """One CP boots through nginx, a command round-trips, a transaction is stored, the console
    answers."""
    cp = ChargePoint("COMPOSE-CP-1")
    await cp.start()
    try:
        gateway = await wait_for("COMPOSE-CP-1 online over REST", lambda: online_on(api, cp.cp_id))
        step(f"BootNotification accepted through nginx; REST shows it online on {gateway}")

        sent = await api.post(f"/charge-points/{cp.cp_id}/commands/GetConfiguration", {})
        if "GetConfiguration" not in cp.commands:
            raise SmokeError(f"the CP never saw GetConfiguration; REST answered {sent}")
        step(f"GetConfiguration over REST reached the CP and came back: {str(sent)[:160]}")

        tag = "COMPOSETAG1"
        await api.post("/id-tags", {"idTag": tag})
        started = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": now()},
        )
        if started.get("idTagInfo", {}).get("status") != "Accepted":
            raise SmokeError(f"StartTransaction answered {started}")
        transaction_id = started["transactionId"]
        stop = {"transactionId": transaction_id, "meterStop": 4500, "timestamp": now()}
        await cp.call("StopTransaction", {**stop, "idTag": tag, "reason": "Local"})

        async def stored() -> dict[str, Any] | None:
            detail: dict[str, Any] = await api.get(f"/transactions/{transaction_id}")
            return detail if detail.get("meterStop") == 4500 else None

        detail = await wait_for(f"transaction {transaction_id} stopped over REST", stored)
        step(
            f"transaction {transaction_id} stored: meterStart {detail.get('meterStart')}, "
            f"meterStop {detail.get('meterStop')}, energy {detail.get('energyWh')}"
        )

        console = await api.http.get("/", follow_redirects=True)
        if console.status_code != 200 or "<html" not in console.text.lower():
            raise SmokeError(f"console: {console.status_code} {console.text[:200]}")
        step(f"the console answers at / ({console.url.path}, {len(console.text)} bytes of HTML)")
    finally:
        await cp.stop()


async def fleet_online(api: Api, fleet: list[ChargePoint], avoid: str = "") -> dict[str, str]:
    """Each CP's gateway, once every one is online (and none on `avoid`)."""
    where: dict[str, str] = {}
    for cp in fleet:
        gateway = await online_on(api, cp.cp_id, avoid)
        if gateway is None:
            raise SmokeError(f"{cp.cp_id} not online elsewhere than {avoid or 'nowhere'} yet")
        where[cp.cp_id] = gateway
    return where


async def nginx_reaches(api: Api, gateways: int, timeout: float = 60.0) -> set[str]:
    """Probe CPs, held open one after another, until nginx (least connections) has put them on
    `gateways` different gateways: it knows a new replica only once it re-resolved the name."""
    probes: list[ChargePoint] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < gateways:
            if time.monotonic() > deadline:
                raise SmokeError(f"nginx reached {len(seen)} of {gateways} gateways: {seen}")
            probe = ChargePoint(f"COMPOSE-PROBE-{len(probes):02d}")
            probes.append(probe)
            await probe.start()
            seen.add(await wait_for("a probe CP online", partial(online_on, api, probe.cp_id)))
    finally:
        await asyncio.gather(*(probe.stop() for probe in probes))
    return seen


def outage(cp: ChargePoint) -> float:
    """Seconds from the CP's first close to its next accepted boot."""
    closed = cp.closed_at[0]
    return min(at for at in cp.booted_at if at > closed) - closed


async def fleet_survives_a_gateway_stop(
    api: Api,
    stop_gateway: Callable[[str], Awaitable[None]],
    step: Callable[[str], None],
    gateways: int,
    size: int = 24,
) -> None:
    """`size` CPs spread over the `gateways`; `stop_gateway(instance id)` SIGTERMs the
    container holding the most; its CPs must get close code 1001 and come back through the
    others."""
    reached = await nginx_reaches(api, gateways)
    step(f"nginx routes to all {len(reached)} gateways")
    fleet = [ChargePoint(f"COMPOSE-FLEET-{i:02d}") for i in range(size)]
    await asyncio.gather(*(cp.start() for cp in fleet))
    try:
        where = await wait_for("the fleet online", lambda: fleet_online(api, fleet))
        spread: dict[str, list[str]] = {}
        for cp_id, gateway in where.items():
            spread.setdefault(gateway, []).append(cp_id)
        step(f"{size} CPs over {len(spread)} gateways: {sorted(map(len, spread.values()))}")
        if len(spread) != gateways:
            raise SmokeError(f"nginx put the CPs on {len(spread)} of {gateways} gateways")
        victim, moved = max(spread.items(), key=lambda item: len(item[1]))
        started = time.monotonic()
        await stop_gateway(victim)
        await wait_for(
            f"the CPs of {victim} back on other gateways",
            lambda: fleet_online(api, fleet, avoid=victim),
            timeout=90,
        )
        seconds = time.monotonic() - started
        codes = {cp.cp_id: cp.close_codes for cp in fleet if cp.cp_id in moved}
        if any(1001 not in c for c in codes.values()):
            raise SmokeError(f"the stopped gateway's CPs did not all get 1001: {codes}")
        others = [cp for cp in fleet if cp.cp_id not in moved]
        if any(cp.close_codes for cp in others):
            raise SmokeError("CPs on the other gateways were dropped too")
        out = sorted(outage(cp) for cp in fleet if cp.cp_id in moved)
        step(
            f"SIGTERM to {victim}: its {len(moved)} CPs got close code 1001 and were online "
            f"through the other gateways {seconds:.1f} s after the stop began; each was out "
            f"{out[0]:.1f}-{out[-1]:.1f} s (close to accepted boot); the other {len(others)} "
            "stayed"
        )
    finally:
        await asyncio.gather(*(cp.stop() for cp in fleet))

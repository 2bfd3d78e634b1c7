"""An eMSP platform for the tests: OCPI versions, 2.2.1 details and credentials, as a party
implements them, calling the CSMS back (with the token it was handed) when it is registered
with; what it received is kept for the test to read. In-process (`at`, beside the roaming
service's app on one routing transport) or served on loopback (`served`, for the running
suite)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

_COUNTER = itertools.count(1)


def _party(n: int) -> str:
    """A party id of three letters and digits, new per platform."""
    return f"E{n % 100:02d}"


def header(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


def ok(data: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"status_code": 1000, "timestamp": "2026-11-26T20:00:00Z"}
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


class Hosts(httpx.AsyncBaseTransport):
    """One transport for every client: a request goes to the ASGI app of its host."""

    def __init__(self) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}

    def add(self, host: str, app: ASGIApp) -> None:
        self.apps[host] = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError(f"no host {request.url.host}", request=request)
        return await app.handle_async_request(request)


class _Quiet(uvicorn.Server):
    """uvicorn in a test: the test runner keeps its signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class PlatformDouble:
    """An eMSP (country NL, party `party_id`) at `base` (`http://host[:port]`); it calls out
    through `transport` (None: the network)."""

    base: str
    transport: httpx.AsyncBaseTransport | None
    party_id: str
    # The token we hand the CSMS (A when it registers with us, then C) and the tokens it
    # accepts from the CSMS.
    tokens_accepted: set[str] = field(default_factory=set)
    their_token: str | None = None  # the token the CSMS handed us to call it with
    versions_offered: tuple[str, ...] = ("2.1.1", "2.2.1")
    broken: bool = False  # answer 500 with no envelope
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, token
    calls_back: list[int] = field(default_factory=list)  # HTTP status of our calls to the CSMS
    # What the CSMS pushed to our receiver interfaces: method, path below /ocpi/2.2.1, body,
    # and the routing headers it came with.
    received: list[tuple[str, str, Any, dict[str, str]]] = field(default_factory=list)
    # Called with each of them as it arrives (the bench times them).
    on_receive: Callable[[str, str, Any], None] | None = None
    # Real-time authorization (tokens, sender): its AllowedType for a uid (any other uid is
    # an unknown token: 404, OCPI 2004), answered after `verdict_delay` seconds.
    verdicts: dict[str, str] = field(default_factory=dict)
    verdict_delay: float = 0.0

    @classmethod
    def at(cls, hosts: Hosts, party_id: str | None = None) -> PlatformDouble:
        """A platform at its own host on `hosts`."""
        n = next(_COUNTER)
        double = cls(f"http://emsp{n}.test", hosts, party_id or _party(n))
        hosts.add(f"emsp{n}.test", double.app())
        return double

    @classmethod
    @contextlib.asynccontextmanager
    async def served(cls, party_id: str | None = None) -> AsyncIterator[PlatformDouble]:
        """A platform served on 127.0.0.1 (a free port) while the block runs."""
        double = cls("", None, party_id or _party(next(_COUNTER)))
        # Bound before serving: a call that comes before uvicorn accepts waits in the backlog.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        double.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = _Quiet(
            uvicorn.Config(double.app(), lifespan="off", log_config=None, access_log=False)
        )
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield double
        finally:
            server.should_exit = True
            await task

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def credentials(self, token: str) -> dict[str, Any]:
        return {
            "token": token,
            "url": self.versions_url,
            "roles": [
                {
                    "role": "EMSP",
                    "business_details": {"name": f"eMSP {self.party_id}"},
                    "party_id": self.party_id,
                    "country_code": "NL",
                }
            ],
        }

    def token(self, uid: str, **fields: Any) -> dict[str, Any]:
        """A token of ours (an RFID card, valid, whitelist ALLOWED unless `fields` say)."""
        return {
            "country_code": "NL",
            "party_id": self.party_id,
            "uid": uid,
            "type": "RFID",
            "contract_id": f"NL-{self.party_id}-C{uid[-8:]}",
            "issuer": f"eMSP {self.party_id}",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": "2026-11-26T10:00:00Z",
        } | fields

    async def register_invited(
        self, client: httpx.AsyncClient, roaming_url: str, token_a: str
    ) -> str:
        """Register with the CSMS that invited us with `token_a`; the token it hands us."""
        self.tokens_accepted = {"emsp-token-b"}
        posted = await client.post(
            f"{roaming_url}/2.2.1/credentials",
            headers=header(token_a),
            json=self.credentials("emsp-token-b"),
        )
        assert posted.status_code == 200, posted.text
        return str(posted.json()["data"]["token"])

    async def push(
        self, client: httpx.AsyncClient, roaming_url: str, ours: str, uid: str, **fields: Any
    ) -> None:
        """PUT one of our tokens to the CSMS."""
        pushed = await client.put(
            f"{roaming_url}/2.2.1/tokens/NL/{self.party_id}/{uid}",
            headers=header(ours),
            json=self.token(uid, **fields),
        )
        assert pushed.status_code == 200, pushed.text

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=10)

    def app(self) -> FastAPI:
        app = FastAPI()

        def token_of(request: Request) -> str | None:
            value = request.headers.get("authorization", "")
            if not value.startswith("Token "):
                return None
            return base64.b64decode(value[6:]).decode()

        def allowed(request: Request) -> JSONResponse | None:
            token = token_of(request)
            self.seen.append((request.method, request.url.path, token))
            if self.broken:
                return JSONResponse({"error": "down"}, status_code=500)
            if token not in self.tokens_accepted:
                return JSONResponse(
                    {"status_code": 2000, "timestamp": "2026-11-26T20:00:00Z"}, status_code=401
                )
            return None

        @app.get("/ocpi/versions")
        async def versions(request: Request) -> JSONResponse:
            refused = allowed(request)
            return refused or ok(
                [{"version": v, "url": f"{self.base}/ocpi/{v}"} for v in self.versions_offered]
            )

        @app.get("/ocpi/{version}")
        async def details(request: Request, version: str) -> JSONResponse:
            refused = allowed(request)
            base = f"{self.base}/ocpi/{version}"
            return refused or ok(
                {
                    "version": version,
                    "endpoints": [
                        {
                            "identifier": "credentials",
                            "role": "SENDER",
                            "url": f"{base}/credentials",
                        },
                        {"identifier": "tokens", "role": "SENDER", "url": f"{base}/tokens"},
                        *(
                            {"identifier": module, "role": "RECEIVER", "url": f"{base}/{module}"}
                            for module in ("locations", "sessions", "cdrs", "tariffs")
                        ),
                    ],
                }
            )

        async def handed(request: Request) -> JSONResponse:
            """The CSMS POSTs or PUTs its credentials: read its versions with its token (as a
            party must, while the call is open), answer with a new token of ours."""
            body = await request.json()
            self.their_token = body["token"]
            async with self.client() as client:
                got = await client.get(body["url"], headers=header(body["token"]))
            self.calls_back.append(got.status_code)
            if got.status_code != 200:
                return JSONResponse(
                    {"status_code": 3001, "timestamp": "2026-11-26T20:00:00Z"}, status_code=400
                )
            new = f"emsp-c-{next(_COUNTER)}"
            self.tokens_accepted = {new}
            return ok(self.credentials(new))

        @app.post("/ocpi/2.2.1/credentials")
        async def post(request: Request) -> JSONResponse:
            return allowed(request) or await handed(request)

        @app.put("/ocpi/2.2.1/credentials")
        async def put(request: Request) -> JSONResponse:
            return allowed(request) or await handed(request)

        async def receive(request: Request) -> JSONResponse:
            refused = allowed(request)
            if refused:
                return refused
            routing = {
                k.lower(): v for k, v in request.headers.items() if k.lower().startswith("ocpi-")
            }
            path = request.url.path.removeprefix("/ocpi/2.2.1")
            raw = await request.body()
            body = orjson.loads(raw) if raw else {}
            self.received.append((request.method, path, body, routing))
            if self.on_receive is not None:
                self.on_receive(request.method, path, body)
            return ok()

        for module in ("locations", "sessions"):
            app.add_api_route(
                f"/ocpi/2.2.1/{module}/{{path:path}}", receive, methods=["PUT", "PATCH"]
            )
        app.add_api_route("/ocpi/2.2.1/tariffs/{path:path}", receive, methods=["PUT", "DELETE"])
        app.add_api_route("/ocpi/2.2.1/cdrs", receive, methods=["POST"])
        # The response_url of its commands: /ocpi/2.2.1/commands/<COMMAND>/<its id>.
        app.add_api_route("/ocpi/2.2.1/commands/{path:path}", receive, methods=["POST"])

        @app.post("/ocpi/2.2.1/tokens/{uid}/authorize")
        async def authorize(request: Request, uid: str) -> JSONResponse:
            refused = allowed(request)
            if refused:
                return refused
            raw = await request.body()
            routing = {
                k.lower(): v for k, v in request.headers.items() if k.lower().startswith("ocpi-")
            }
            path = f"/tokens/{uid}/authorize?type={request.query_params.get('type')}"
            self.received.append(("POST", path, orjson.loads(raw) if raw else {}, routing))
            await asyncio.sleep(self.verdict_delay)
            if uid not in self.verdicts:
                return JSONResponse(
                    {"status_code": 2004, "timestamp": "2026-11-26T20:00:00Z"}, status_code=404
                )
            return ok(
                {
                    "allowed": self.verdicts[uid],
                    "token": self.token(uid),
                    "authorization_reference": f"REF-{uid}",
                }
            )

        @app.delete("/ocpi/2.2.1/credentials")
        async def delete(request: Request) -> JSONResponse:
            refused = allowed(request)
            if refused:
                return refused
            self.tokens_accepted = set()
            return ok()

        return app

"""Calls to a party's OCPI interface: the Authorization, X-Request-ID and X-Correlation-ID
headers, the response envelope read and checked."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from csms_shared.outbound import Network, RefusedTarget, check_target, pinned_request

from .credential_tokens import authorization
from .ocpi.types import Response, Status

M = TypeVar("M")


class PartyError(Exception):
    """The party could not be used: unreachable, an HTTP error, no OCPI envelope, a failure
    status, or data that is not what OCPI says. `status` is the OCPI status to answer with."""

    def __init__(
        self,
        message: str,
        status: Status = Status.UNABLE_TO_USE_CLIENT_API,
        *,
        http_status: int | None = None,
        ocpi_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        # What the party answered, None for what it did not (no answer, no envelope).
        self.http_status = http_status
        self.ocpi_status = ocpi_status

    @property
    def refused(self) -> bool:
        """The party refused the request for good, a client error a retry cannot fix: HTTP 4xx
        other than 408 and 429, or an OCPI 2xxx status; never when its server failed (HTTP 5xx,
        OCPI 3xxx) or it did not answer."""
        http, ocpi = self.http_status, self.ocpi_status
        if http is None or http >= 500 or http in (408, 429):
            return False
        if ocpi is not None and 3000 <= ocpi < 4000:
            return False
        return http >= 400 or (ocpi is not None and 2000 <= ocpi < 3000)


class OcpiClient:
    """One HTTP client for every party; each call names its token.

    The URLs come from the parties (their versions URL, their endpoints): each call goes only
    to a public address, or one inside `allowed` (ROAMING_ALLOWED_NETWORKS), over the address
    that was checked; no redirect is followed. `allowed` None checks nothing: for a
    `transport` that never leaves the process (the tests)."""

    def __init__(
        self,
        timeout: float,
        allowed: list[Network] | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allowed = allowed
        # No kept-alive connections: pinned requests are pooled by address alone, and one would
        # carry another host's request over a TLS session checked for this one.
        self._http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        url: str,
        token: str,
        data: type[M] | Any,
        *,
        body: BaseModel | dict[str, Any] | None = None,
        correlation_id: str | None = None,
        routing: dict[str, str] | None = None,
    ) -> M:
        """`method` on `url` with `token`; the envelope's `data` as `data` (a type a pydantic
        TypeAdapter takes; None for "no data expected"). `body`: a model, or a document
        already in OCPI's JSON shape; `routing`: the OCPI-from/to-* headers."""
        headers = {
            "Authorization": authorization(token),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
            **(routing or {}),
        }
        content: bytes | None = None
        if isinstance(body, BaseModel):
            headers["Content-Type"] = "application/json"
            content = body.model_dump_json(exclude_none=True).encode()
        elif body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        try:
            if self._allowed is None:
                request = self._http.build_request(method, url, headers=headers, content=content)
            else:
                addresses = await check_target(url, self._allowed, "ROAMING_ALLOWED_NETWORKS")
                request = pinned_request(self._http, url, addresses[0], headers, content, method)
            answer = await self._http.send(request)
        except RefusedTarget as exc:
            raise PartyError(f"{method} {url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise PartyError(f"{method} {url}: {type(exc).__name__} {exc}".strip()) from exc
        try:
            envelope = Response[Any].model_validate_json(answer.content)
        except ValidationError as exc:
            raise PartyError(
                f"{method} {url}: HTTP {answer.status_code}, not an OCPI response",
                http_status=answer.status_code,
            ) from exc
        if answer.status_code >= 300 or not envelope.ok:
            raise PartyError(
                f"{method} {url}: HTTP {answer.status_code}, OCPI status {envelope.status_code}"
                + (f" {envelope.status_message}" if envelope.status_message else ""),
                http_status=answer.status_code,
                ocpi_status=envelope.status_code,
            )
        if data is None:
            return None  # type: ignore[return-value]
        try:
            found: M = TypeAdapter(data).validate_python(envelope.data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise PartyError(f"{method} {url}: its data is not OCPI's ({problems})") from exc
        return found

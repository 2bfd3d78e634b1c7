"""Pushes to the platforms' receiver interfaces: written in the transaction of the change that
causes them (`push_queue.enqueue`), delivered after its commit by `PushDelivery`, retried until the
platform takes them, in order per platform and object, never lost; only a push the platform
refuses for good (a client error, `PartyError.refused`) `push_max_refusals` times in a row is
dropped, with the reason.

A push waits for every earlier push of its object to the same platform; pushes of different
objects go side by side. A newer push that says all an older pending one said (a Location PUT
after anything of that location, an EVSE's status PATCH after the previous one) supersedes it:
the older is dropped, so a platform that is down for a while gets one document per object when
it is back, not every change it missed. Each attempt takes a lease (`leased_until`) instead of
holding a row lock over the HTTP call: a process that dies mid-push leaves a lease that runs
out, and the push is tried again (a PUT or PATCH taken twice says the same). An attempt's HTTP
call is cut off well within its lease, and its outcome is recorded only while the push still
holds the lease this claim set: a claimer that stalled past its lease changes nothing."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import platform_roles, platforms, pushes
from .ocpi.types import Role
from .ocpi.versions import ModuleId
from .ocpi_client import OcpiClient, PartyError
from .platforms import PlatformState
from .push_queue import RUNNING, pending, receiver_url
from .settings import Settings

log = logging.getLogger(__name__)

# The refusals in a row are counted in `last_error` (no column holds them): "refused 2 of 5: ...".
_REFUSALS = re.compile(r"refused (\d+) of \d+: ")


def _refusals(last_error: str | None) -> int:
    """How many times in a row the platform refused the push, as its last error says."""
    found = _REFUSALS.match(last_error or "")
    return int(found.group(1)) if found else 0


def backoff(attempts: int, longest: float) -> float:
    """Seconds before attempt `attempts + 1`: 2 s doubling, up to `longest`, with +-10 %."""
    base = min(2.0 * float(2 ** max(attempts - 1, 0)), longest)
    return base * random.uniform(0.9, 1.1)


def _own_party(platform_id: Any) -> Any:
    """A platform's own party (`CC-PID`): its hub role's, else its first (broadcasts go
    there)."""
    return (
        select(platform_roles.c.country_code + "-" + platform_roles.c.party_id)
        .where(platform_roles.c.platform_id == platform_id)
        .order_by(
            (platform_roles.c.role != Role.HUB.value),
            platform_roles.c.role,
            platform_roles.c.country_code,
            platform_roles.c.party_id,
        )
        .limit(1)
        .scalar_subquery()
        .label("own_party")
    )


class PushDelivery:
    """Delivers due pushes, up to `settings.push_concurrency` at once, until cancelled: one
    loop claims as many due pushes as there are free slots in one statement and sends each in
    a task of its own. Woken by commits of this process that queued pushes and by each push
    that ends (the next of its object may be due), and every `push_poll_interval` for the rest
    (other processes' pushes, retries that came due)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: OcpiClient,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._settings = settings
        self._wakeup = asyncio.Event()
        # An attempt's HTTP call is cut off after `request_timeout` as a whole (httpx's timeout
        # bounds each connect, write and read, not their sum); the lease outlasts it with room
        # for the claim and the record, so no other process sends the push while this one may.
        self._attempt = settings.request_timeout
        self._lease = timedelta(seconds=settings.request_timeout * 2 + 5)
        self._sending: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        RUNNING.add(self)
        try:
            while True:
                self._wakeup.clear()
                free = self._settings.push_concurrency - len(self._sending)
                claimed = []
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("claiming pushes failed; trying again at the next poll")
                for row in claimed:
                    task = asyncio.create_task(self._send(row), name=f"roaming-push-{row.id}")
                    self._sending.add(task)
                    task.add_done_callback(self._sent)
                if claimed and len(claimed) == free:
                    continue  # there may be more due: claim again once a slot is free
                try:
                    # asyncio.timeout, not wait_for: on 3.11 a wait_for whose event is set as
                    # the task is cancelled can swallow the cancellation (a stop that hangs).
                    async with asyncio.timeout(self._settings.push_poll_interval):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass
        finally:
            RUNNING.discard(self)
            for task in self._sending:
                task.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a push failed unexpectedly", exc_info=task.exception())
        self._wakeup.set()

    async def deliver_one(self) -> bool:
        """Claim and send one due push; False when none was due (the tests' driver)."""
        claimed = await self._claim(1)
        if not claimed:
            return False
        await self._send(claimed[0])
        return True

    async def _claim(self, limit: int) -> list[Any]:
        """Up to `limit` due pushes whose objects have no earlier pending push to their
        platform, each leased to this process, with their platform's state, token and
        endpoints; in one statement."""
        earlier = pushes.alias("earlier")
        due = (
            select(pushes.c.id)
            .where(
                pending(),
                pushes.c.next_attempt_at <= func.now(),
                or_(pushes.c.leased_until.is_(None), pushes.c.leased_until < func.now()),
                ~exists().where(
                    earlier.c.platform_id == pushes.c.platform_id,
                    earlier.c.object_key == pushes.c.object_key,
                    earlier.c.id < pushes.c.id,
                    earlier.c.delivered_at.is_(None),
                    earlier.c.dropped_at.is_(None),
                ),
            )
            .order_by(pushes.c.next_attempt_at, pushes.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Run once: an `IN (subquery)` may be planned as a join that runs the subquery again
            # and again, and a SKIP LOCKED subquery run again may return other rows, so the
            # UPDATE leased more than `limit`.
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        leased = (
            update(pushes)
            .where(pushes.c.id == due.c.id)
            # The database's clock, as the claims that compare with it (one value per claim:
            # `_finish` knows its lease by it).
            .values(leased_until=func.now() + self._lease)
            .returning(pushes)
            .cte("leased")
        )
        async with self._sessions.begin() as session:
            return list(
                (
                    await session.execute(
                        select(
                            leased,
                            platforms.c.state,
                            platforms.c.their_token,
                            platforms.c.endpoints,
                            _own_party(leased.c.platform_id),
                        )
                        .join(platforms, platforms.c.id == leased.c.platform_id)
                        .order_by(leased.c.id)
                    )
                ).all()
            )

    async def _send(self, row: Any) -> None:
        """Send one claimed push and record how it went."""
        module = ModuleId(row.module)
        # A push to a URL the platform gave (a command's response_url), or below its receiver.
        absolute = row.path.startswith(("http://", "https://"))
        base = None if absolute else receiver_url(row.endpoints, module)
        url = row.path if absolute else None if base is None else base + row.path
        if row.state != PlatformState.REGISTERED or row.their_token is None:
            await self._finish(row, dropped="the platform is no longer registered")
            return
        if url is None:
            await self._finish(row, dropped=f"the platform has no {module.value} receiver")
            return
        try:
            await asyncio.wait_for(
                self._client.call(
                    row.method,
                    url,
                    row.their_token,
                    None,
                    body=row.body or None,  # a DELETE has none
                    routing=self._routing(row),
                ),
                self._attempt,
            )
        except TimeoutError:
            await self._finish(row, failed=f"{row.method} {url}: no answer in {self._attempt:g} s")
        except PartyError as exc:
            if exc.refused:
                await self._refused(row, exc)
            else:
                await self._finish(row, failed=str(exc))
        else:
            await self._finish(row, delivered=True)

    async def _refused(self, row: Any, exc: PartyError) -> None:
        """The platform refused the push for good: tried again as any failure (a platform may
        refuse while it is being set up), dropped once refused `push_max_refusals` times in a
        row, so it no longer holds up the later pushes of its object."""
        refusals = _refusals(row.last_error) + 1
        error = f"refused {refusals} of {self._settings.push_max_refusals}: {exc}"
        if refusals < self._settings.push_max_refusals:
            await self._finish(row, failed=error)
            return
        answer = f"HTTP {exc.http_status}"
        if exc.ocpi_status is not None:
            answer += f", OCPI status {exc.ocpi_status}"
        why = f"refused {refusals} times by the platform ({answer})"
        if await self._finish(row, dropped=why, failed=error):
            log.warning(
                "push %s (%s %s to platform %s) dropped, %s: %s",
                row.id,
                row.method,
                row.path,
                row.platform_id,
                why,
                exc,
            )

    def _routing(self, row: Any) -> dict[str, str]:
        """From us; to the party the push is for, or for a broadcast to the platform's own
        party: a hub's (which then broadcasts it), else its first."""
        headers = {
            "OCPI-from-country-code": self._settings.country_code,
            "OCPI-from-party-id": self._settings.party_id,
        }
        if row.to_country_code is not None:
            headers["OCPI-to-country-code"] = row.to_country_code
            headers["OCPI-to-party-id"] = row.to_party_id
        elif row.own_party is not None:
            country, party = row.own_party.split("-", 1)
            headers["OCPI-to-country-code"] = country
            headers["OCPI-to-party-id"] = party
        return headers

    async def _finish(
        self,
        row: Any,
        *,
        delivered: bool = False,
        dropped: str | None = None,
        failed: str | None = None,
    ) -> bool:
        """Record the attempt: taken, dropped (`dropped` the reason, `failed` the last error),
        or failed and due again after a backoff. Only while the push is pending and holds the
        lease this claim set: an attempt whose lease ran out and another took the push records
        nothing (False)."""
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "leased_until": None,
            "last_attempt_at": func.now(),
            "attempts": attempts,
        }
        wait = 0.0
        if delivered:
            values |= {"delivered_at": func.now(), "last_error": None}
        elif dropped is not None:
            values |= {"dropped_at": func.now(), "dropped_why": dropped[:200]}
            if failed is not None:
                values["last_error"] = failed[:500]
        else:
            wait = backoff(attempts, self._settings.push_retry_max)
            values |= {
                "last_error": (failed or "")[:500],
                "next_attempt_at": func.now() + timedelta(seconds=wait),
            }
        async with self._sessions.begin() as session:
            recorded = (
                await session.execute(
                    update(pushes)
                    .where(
                        pushes.c.id == row.id,
                        pushes.c.leased_until == row.leased_until,
                        pending(),
                    )
                    .values(values)
                    .returning(pushes.c.id)
                )
            ).first()
        if recorded is None:
            log.warning(
                "push %s: this attempt's lease ran out and another took the push over; its"
                " outcome is not recorded",
                row.id,
            )
            return False
        if not delivered and dropped is None:
            log.info(
                "push %s not taken (attempt %s), again in %.0f s: %s",
                row.id,
                attempts,
                wait,
                failed,
            )
        return True

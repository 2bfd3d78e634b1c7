"""The FastAPI application; main() serves it with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from csms_shared.bus.connection import connected
from csms_shared.bus.runtime import ServiceRuntime
from csms_shared.db import create_engine, ping, session_factory, upgrade
from csms_shared.health import serve_probes
from csms_shared.heap import set_collector_thresholds
from csms_shared.logging import configure_logging
from csms_shared.ocpp.redaction import secret_keys
from csms_shared.samples import (
    outbox_sampler,
    pool_sampler,
    queue_sampler,
    sample_forever,
    set_build_info,
)
from csms_shared.stopping import StopBudget
from csms_shared.tracing import configure_tracing, instrument_engine

from . import console, openapi_names, problems, webhook_store
from .access_log import AccessLog
from .accounts import tokens
from .accounts.passwords import PasswordWork
from .accounts.users import ensure_bootstrap_user
from .api import (
    charge_point_security,
    charge_points,
    charging_profiles,
    commands,
    connectors,
    dead_letters,
    fleet,
    keys,
    local_list,
    message_log,
    network,
    operator_actions,
    roaming,
    sessions,
    sites,
    tariffs,
    users,
    webhooks,
)
from .api import tokens as token_routes
from .api.deps import AppState
from .auth import ensure_bootstrap_admin
from .console.live import LiveFeed
from .db import outbox
from .dispatcher import Dispatcher
from .follow_events import follow, retire_queues
from .intake import Intake
from .local_list_resync import LocalListResync
from .recorder import expire_lost, prune
from .settings import Settings
from .webhooks import Webhooks

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
API_PREFIX = "/api/v1"
# Events followed at once (each boot read and resync mark is one short transaction).
FOLLOWERS = 4


def migrate(settings: Settings | None = None) -> None:
    """Bring schema `commands` to the newest revision."""
    settings = settings or Settings()
    upgrade(MIGRATIONS, settings.database_url)


async def _expire_lost_commands(state: AppState) -> None:
    while True:
        await asyncio.sleep(10)
        try:
            async with state.sessions() as session, session.begin():
                if await expire_lost(session, grace_seconds=30):
                    state.dispatcher.wake_relay()
            days = state.settings.command_retention_days
            if days is not None:
                async with state.sessions() as session, session.begin():
                    pruned = await prune(session, days) + await webhook_store.prune(session, days)
                if pruned:
                    log.info("%d commands and deliveries older than %s days deleted", pruned, days)
        except Exception:
            log.exception("expiring lost commands failed")


def operation_id(route: APIRoute) -> str:
    """The route function's name in kebab-case: `list-charge-points`, `send-reset`."""
    return route.name.replace("_", "-")


def create_app(settings: Settings) -> FastAPI:
    """The application, its connections opened and closed by the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            application_name="command-api",
            generic_plans=settings.database_generic_plans,
        )
        instrument_engine(engine)
        sessions = session_factory(engine)
        if settings.admin_api_key is not None:
            async with sessions() as session, session.begin():
                await ensure_bootstrap_admin(session, settings.admin_api_key.get_secret_value())
        else:
            log.warning("no CSMS_ADMIN_API_KEY: only keys already in the database work")
        configured = settings.token_secret.get_secret_value() if settings.token_secret else None
        async with sessions() as session, session.begin():
            signing_secret = await tokens.signing_secret(session, configured)
            if settings.admin_password is not None and await ensure_bootstrap_user(
                session, settings.admin_password.get_secret_value()
            ):
                log.info("created the bootstrap user `admin` from CSMS_ADMIN_PASSWORD")
        dispatcher = Dispatcher(
            settings.broker_url,
            settings.instance_id,
            sessions,
            secret_keys(settings.secret_configuration_keys),
        )
        await dispatcher.start()
        assert dispatcher.connection is not None
        live = LiveFeed(settings.instance_id)
        await live.start(dispatcher.connection)
        app.state.live = live
        hooks = Webhooks(settings, sessions)
        passwords = PasswordWork(settings.password_threads, settings.password_checks_waiting)
        state = AppState(settings, engine, sessions, dispatcher, hooks, passwords, signing_secret)
        app.state.csms = state
        sweeper = asyncio.create_task(_expire_lost_commands(state), name="lost-commands")
        assert dispatcher.connection is not None
        await Intake(state).start(await dispatcher.connection.channel())
        await hooks.start(await dispatcher.connection.channel())
        resync = LocalListResync(state) if settings.local_list_resync else None
        await retire_queues(await dispatcher.connection.channel())
        followers = ServiceRuntime(
            follow(state, resync),
            settings=settings,
            broker_url=settings.broker_url,
            sessions=sessions,
            prefetch=64,
            concurrency=FOLLOWERS,
        )
        if followers.router.events:
            await followers.start()
        if resync is not None:
            resync.start()
        set_build_info("command-api")
        # The depth and dead letters of the queue its followers read (if any); the other
        # services sample theirs (RabbitMQ 4 refuses a passive declaration without `configure`).
        samplers = [
            pool_sampler(engine),
            outbox_sampler(engine, outbox),
            queue_sampler(lambda: followers.connection, followers.queues),
        ]
        sampling = asyncio.create_task(sample_forever(samplers), name="metrics")

        async def ready() -> None:
            await ping(engine)
            if not connected(dispatcher.connection):
                raise RuntimeError("broker connection is down")

        # Probes and metrics on the internal port: the API port (and its ingress) serves the API.
        probes = await serve_probes(settings.http_host, settings.internal_port, ready)
        try:
            yield
        finally:
            probes.close()
            # The steps that may need the broker or the database share one bound: one that is
            # gone (or the vhost deleted under the process) must not hold the stop until SIGKILL.
            stop = StopBudget()
            await stop.cancel([sweeper, sampling])
            if resync is not None:
                await stop.step(resync.stop(), "the local-list resync's stop")
            await stop.step(followers.stop(), "the followers' stop")
            await stop.step(hooks.close(), "the webhooks' stop")
            await stop.step(dispatcher.close(), "the broker connection's close")
            passwords.close()
            await stop.step(engine.dispose(), "the database pool's close")

    app = FastAPI(
        title="csms command-api",
        version="1.0",
        summary="Operators' REST API of an OCPP 1.6J central system",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # FastAPI's pages load their scripts from a CDN: the console serves /docs from its own
        # copy of Swagger UI (air-gapped sites), and ReDoc is not shipped.
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    openapi_names.install(app)
    if configure_tracing("command-api"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app)

    # The API's routes first: a request is matched against the routes in order, and an API
    # call (most of the traffic) then skips the console's (bench/RESULTS.md, commands).
    for module in (
        commands,
        operator_actions,
        fleet,
        charge_points,
        charge_point_security,
        network,
        local_list,
        connectors,
        sessions,
        tariffs,
        sites,
        roaming,
        charging_profiles,
        keys,
        webhooks,
        dead_letters,
        message_log,
        token_routes,
        users,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    console.install(app)
    app.add_middleware(RefuseNul)
    # Added last, so outermost: it sees every answer, RefuseNul's refusals included.
    app.add_middleware(AccessLog, prefix=API_PREFIX)
    return app


class RefuseNul:
    """U+0000 fits no database text column: refuse it in the path or query up front.

    Plain ASGI: Starlette's BaseHTTPMiddleware (`@app.middleware`) runs every request through
    an extra task and memory streams, a large share of a small request's cost.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = (scope.get("raw_path") or b"") + b"?" + (scope.get("query_string") or b"")
            if b"%00" in raw or b"\x00" in raw:
                response = problems.problem_response(
                    422, "The path or query contains U+0000 (%00)", type=problems.INVALID_REQUEST
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# How long a stop waits for open requests before the lifespan's own steps (`StopBudget`).
OPEN_REQUESTS_WAIT = 5


async def main(settings: Settings | None = None) -> None:
    """Serve the API until SIGTERM or SIGINT."""
    settings = settings or Settings()
    configure_logging("command-api", settings.log_level, settings.log_json)
    set_collector_thresholds(settings.gc_thresholds)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        loop="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        # The client address and scheme come from X-Forwarded-For and -Proto of these only.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Console streams (/live) end on their own within a minute; a stop need not wait so long.
        timeout_graceful_shutdown=OPEN_REQUESTS_WAIT,
    )
    await uvicorn.Server(config).serve()

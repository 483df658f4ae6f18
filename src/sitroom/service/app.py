"""The web application: every route, the one error shape, a log line per request, and the
endpoints that are not the room's capabilities — logging in, tokens, health and metrics.

Built by :func:`create_app` around a :class:`~sitroom.service.hub.Hub` (the room, opened once),
so a test can serve it in a thread and a process serves it with uvicorn
(:mod:`sitroom.service`). OpenAPI 3.1 at ``/openapi.json``, its page at ``/docs``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sitroom import __version__
from sitroom.application.results import Result
from sitroom.room import Room
from sitroom.service import dashboard, errors, routes, stream
from sitroom.service import params as p
from sitroom.service.errors import responses
from sitroom.service.forward import Courier, Forward
from sitroom.service.hub import Hub
from sitroom.service.json import JSON
from sitroom.service.metrics import CONTENT_TYPE, Metrics, room_gauges
from sitroom.service.roles import Roles
from sitroom.service.routes import MADE, READ, WRITE, Who, router

access_log = logging.getLogger("sitroom.service.access")

DESCRIPTION = """The situation room of one workspace, served: every answer is what the CLI's
`--json` prints, reads with their provenance. Log in (`POST /auth/login`) or use an API token,
and send `Authorization: Bearer <token>`. A room without users is single-user: requests without
a token act as the room. Errors: `{"error": {"type", "message", ...}}`."""


def create_app(
    hub: Hub, *, queue_max: int, roles: Roles | None = None, poll_s: float = 0.01
) -> FastAPI:
    """The application serving ``hub``'s room; with ``roles``, one of several processes on a
    PostgreSQL log, which forwards its writes while it is a reader. The stream looks at the
    log every ``poll_s`` besides when woken (a write here, an append heard of)."""
    metrics = Metrics(lambda: len(broadcaster.clients))
    broadcaster = stream.Broadcaster(
        hub, queue_max=queue_max, poll_s=poll_s, on_events=metrics.saw, on_drop=metrics.dropped.inc
    )
    courier: Courier | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broadcaster.start()
        try:
            yield
        finally:
            hub.stopping.set()
            await broadcaster.stop()
            if courier is not None:
                await courier.close()

    app = FastAPI(
        title="sitroom",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JSON,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.broadcaster = broadcaster
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(auth_router)
    app.include_router(router)
    app.include_router(stream.router)
    app.include_router(ops_router)
    dashboard.install(app)
    if roles is not None:
        courier = Courier()
        app.add_middleware(Forward, roles=roles, courier=courier)
    app.add_middleware(AccessLog, metrics=metrics)
    return app


# logging in, and tokens -----------------------------------------------------------------------
auth_router = APIRouter(tags=["auth"])


@auth_router.post(
    "/auth/login",
    status_code=201,
    response_model=None,
    responses={201: {"model": p.LoggedIn}, **responses(400, 401, 422, 429)},
)
async def login(request: Request, body: p.Login) -> JSON:
    """A session token for the user, once their passphrase opens their key (failed logins
    are limited per user: 429 with Retry-After)."""
    hub: Hub = request.app.state.hub
    ttl = None if body.hours is None else round(body.hours * 3_600_000)
    issued = await hub.login(body.user, body.passphrase, ttl_ms=ttl)
    request.state.user = body.user
    row = issued.row
    return JSON(
        {"token": issued.token, "id": row.id, "user": row.user, "expires": row.expires},
        status_code=201,
    )


@auth_router.post("/auth/logout", response_model=None, responses=WRITE)
async def logout(who: Who) -> JSON:
    """End the session this token is (it opens nothing after)."""
    bearer = who.bearer

    def end(r: Room) -> Result:
        return r.auth.logout(r.user or "", bearer)

    return await who.answer(end)


@auth_router.get("/tokens", response_model=None, responses=READ | {200: {"model": p.Done}})
async def tokens(who: Who) -> JSON:
    """Your live tokens: sessions and API tokens."""
    return await who.answer(lambda r: r.auth.listing(r.user or ""))


@auth_router.post("/tokens", status_code=201, response_model=None, responses=MADE)
async def token_create(who: Who, body: p.NewToken) -> JSON:
    """An API token for a script, acting as you: shown this once."""
    ttl = round(body.days * 86_400_000)
    return await who.answer(
        lambda r: r.auth.create(r.session, body.name, ttl_ms=ttl), writes=True, status=201
    )


@auth_router.delete("/tokens/{token_id}", response_model=None, responses=WRITE)
async def token_revoke(who: Who, token_id: routes.Name) -> JSON:
    """Revoke one of your tokens now."""
    return await who.answer(lambda r: r.auth.revoke(r.session, token_id), writes=True)


# operations -----------------------------------------------------------------------------------
ops_router = APIRouter(tags=["operations"])


@ops_router.get("/healthz", response_model=p.Health, responses=responses(503))
async def healthz(request: Request) -> p.Health:
    """Alive, serving which site, at which log position, whether acting needs a token, and
    this process's role: the log's writer, or a reader that forwards writes to it (no token
    needed)."""
    hub: Hub = request.app.state.hub
    last, users = await hub.run(lambda: (hub.room.session.last_seq(), hub.room.has_users))
    return p.Health(status="ok", site=hub.room.site, last_seq=last, users=users, role=hub.role)


@ops_router.get(
    "/metrics",
    response_model=None,
    responses={
        200: {"description": "Prometheus text.", "content": {"text/plain": {}}},
        **responses(401, 403, 503),
    },
)
async def metrics_text(request: Request, who: Who) -> Response:
    """The server's measures and the room's (breakers, key wear) as this token sees them."""
    acted = await who.hub.act(who.view, room_gauges)
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.text(acted.body), media_type=CONTENT_TYPE)


# one log line per request ---------------------------------------------------------------------
class AccessLog:
    """A JSON line per request on the access logger: time, method, route, status, user, ms;
    and the requests counted by route and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            user = (scope.get("state") or {}).get("user")
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "route": template,
                        "path": scope["path"],
                        "status": status,
                        "user": user,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )

"""The composition root: the node, its features, and the ASGI app around them.

Every feature is built here, handed the services it needs, and installed on the
node in one list (``draftroom.features``); the route table and the lifespan come
from that list. Nothing else creates services or attaches hooks.

That includes the node's one request-path Redis link: sessions, rate limits,
connection leases, the agent cache and its claims, and the rebalancer share its pool
and its breaker, so one failure seen by any of them keeps all of them off a Redis
that is down (and sessions distrust Redis after an outage whoever saw it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from draftroom.admission import AdmissionControl
from draftroom.admission.rebalance import Rebalancer
from draftroom.agents.service import AgentService
from draftroom.agents.websocket import SocketRequests
from draftroom.analytics.recorder import Analytics
from draftroom.auth.revocation import Kicker
from draftroom.auth.service import Auth
from draftroom.config import Settings
from draftroom.export.jobs import ExportService
from draftroom.features import Feature
from draftroom.node import Node
from draftroom.redis import CircuitBreaker, RedisLink
from draftroom.search.service import Search
from draftroom.server import (
    agents_api,
    analytics_api,
    auth_api,
    export_api,
    import_api,
    metrics_api,
    search_api,
)
from draftroom.server.admission import AdmissionMiddleware
from draftroom.server.auth_middleware import AuthMiddleware
from draftroom.server.body import BodyLimitMiddleware
from draftroom.server.connection import Connection
from draftroom.server.errors import EXCEPTION_HANDLERS
from draftroom.server.routes import HttpApi, route_table
from draftroom.server.web_app import WebApp
from draftroom.telemetry import node as telemetry

# Request-path Redis calls take well under a millisecond: 64 connections serve tens
# of thousands of calls a second, far more than a node's event loop can issue.
REDIS_CONNECTIONS = 64


def request_redis(settings: Settings) -> RedisLink:
    """The node's Redis link for request-path code (``client`` None without Redis).

    A blocking pool: a burst waits for a free connection (up to the timeout) instead
    of opening one per request.
    """
    return RedisLink(
        settings.redis_url,
        breaker=CircuitBreaker(cooldown=settings.redis_cooldown_seconds, threshold=1),
        max_connections=REDIS_CONNECTIONS,
        name="redis",
    )


def features(settings: Settings, node: Node, redis: RedisLink) -> list[Feature]:
    """Every feature of a node, in start order (they stop in reverse)."""
    auth = Auth(  # raises ValueError on an unsafe --allow-anonymous
        settings,
        node.store.sql,
        redis=redis,
        documents=node.store,
        announce=node.broadcast_control,
        node_id=lambda: node.node_id,
        open_sockets=lambda user: sum(1 for c in node.connections if c.user == user),
    )
    analytics = (
        Analytics(
            node.store.sql,
            retention_days=settings.analytics_retention_days,
            flush_seconds=settings.analytics_flush_seconds,
            broadcast=node.broadcast_control,
        )
        if settings.analytics
        else None
    )
    agents = AgentService(node, redis, analytics)
    return [
        auth,
        Kicker(
            auth,
            live=lambda: [c for c in node.connections if isinstance(c, Connection)],
            close_room=node.rooms.close_room,
        ),
        HttpApi("auth", auth_api.routes),
        *([analytics] if analytics is not None else []),
        HttpApi("analytics", analytics_api.routes),
        agents,
        SocketRequests(agents),
        HttpApi("agents", agents_api.routes),
        ExportService(settings, node.store, node.broadcast_app),
        HttpApi("export", export_api.routes),
        HttpApi("import", import_api.routes),
        Search(
            node.store,
            lambda: node.node_id,
            debounce=settings.search_debounce_seconds,
            sweep_seconds=settings.search_sweep_seconds,
            lease_seconds=settings.search_lease_seconds,
            indexing=settings.search_indexing,
            workers=settings.search_workers,
            rest_factor=settings.search_rest_factor,
        ),
        HttpApi("search", search_api.routes),
        telemetry.Telemetry(
            node, node.loop_lag, (lambda: analytics.dropped) if analytics else None
        ),
        HttpApi("metrics", metrics_api.routes),
        WebApp(settings),
        AdmissionControl(
            settings.max_connections, settings.max_loop_lag_ms, node.loop_lag, rooms=node.hooks
        ),
        *(
            [Rebalancer(node, redis, settings.rebalance_seconds)]
            if settings.redis_url and settings.rebalance_seconds > 0
            else []
        ),
    ]


def create_app(settings: Settings, node: Node | None = None) -> Starlette:
    node = node or Node(settings)
    redis = request_redis(settings)
    installed = features(settings, node, redis)
    node.install(installed)
    auth = node.feature(Auth)
    admission = node.feature(AdmissionControl)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()
            await redis.close()  # after every feature that used it has stopped

    app = Starlette(
        routes=route_table(installed),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[
            *telemetry.middleware(settings),
            Middleware(AdmissionMiddleware, admission=admission),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_request_bytes,
                larger=import_api.body_limit(settings),
            ),
            Middleware(AuthMiddleware, auth=auth),
        ],
    )
    app.state.node = node
    return app

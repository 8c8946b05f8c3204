"""The composition root: the node, its features, and the ASGI app around them.

Every feature is built here, handed the services it needs, and installed on the
node in one list (``draftroom.features``); the route table and the lifespan come
from that list. Nothing else creates services or attaches hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from draftroom.agents.service import AgentService
from draftroom.agents.websocket import SocketRequests
from draftroom.analytics.recorder import Analytics
from draftroom.auth.kicker import Kicker
from draftroom.auth.middleware import AuthMiddleware
from draftroom.auth.service import Auth
from draftroom.config import Settings
from draftroom.export.jobs import ExportService
from draftroom.features import Feature
from draftroom.node import Node
from draftroom.search.service import Search
from draftroom.server import (
    agents_api,
    analytics_api,
    auth_api,
    export_api,
    metrics_api,
    search_api,
)
from draftroom.server.body import BodyLimitMiddleware
from draftroom.server.errors import EXCEPTION_HANDLERS
from draftroom.server.raw_send import RawSendMiddleware
from draftroom.server.routes import HttpApi, route_table
from draftroom.telemetry import node as telemetry


def features(settings: Settings, node: Node) -> list[Feature]:
    """Every feature of a node, in start order (they stop in reverse)."""
    auth = Auth(node)  # raises ValueError on an unsafe --allow-anonymous
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
    agents = AgentService(node, analytics)
    return [
        auth,
        Kicker(auth),
        HttpApi("auth", auth_api.routes),
        *([analytics] if analytics is not None else []),
        HttpApi("analytics", analytics_api.routes),
        agents,
        SocketRequests(agents),
        HttpApi("agents", agents_api.routes),
        ExportService(settings, node.store, node.broadcast_app),
        HttpApi("export", export_api.routes),
        Search(
            node.store,
            lambda: node.node_id,
            debounce=settings.search_debounce_seconds,
            sweep_seconds=settings.search_sweep_seconds,
            lease_seconds=settings.search_lease_seconds,
            indexing=settings.search_indexing,
            workers=settings.search_workers,
        ),
        HttpApi("search", search_api.routes),
        telemetry.Telemetry(node, (lambda: analytics.dropped) if analytics else None),
        HttpApi("metrics", metrics_api.routes),
    ]


def create_app(settings: Settings, node: Node | None = None) -> Starlette:
    node = node or Node(settings)
    installed = features(settings, node)
    node.install(installed)
    auth = node.feature(Auth)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=route_table(installed),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[
            *telemetry.middleware(settings),
            Middleware(RawSendMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes),
            Middleware(AuthMiddleware, auth=auth),
        ],
    )
    app.state.node = node
    return app

"""The ASGI application: routes, error handlers, and the hub's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute

from draftroom.auth.install import install as install_auth
from draftroom.auth.middleware import AuthMiddleware
from draftroom.config import Settings
from draftroom.server import agents_api, analytics_api, api, auth_api, export_api, metrics_api
from draftroom.server.body import BodyLimitMiddleware
from draftroom.server.errors import EXCEPTION_HANDLERS
from draftroom.server.hub import Hub
from draftroom.server.raw_send import RawSendMiddleware
from draftroom.server.ws import websocket_endpoint
from draftroom.telemetry.node import install as install_telemetry
from draftroom.web.routes import WebApp


def create_app(settings: Settings, hub: Hub | None = None) -> Starlette:
    hub = hub or Hub(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(
        routes=[
            *auth_api.routes,  # before api.routes: /api/documents/{id:path} is greedy
            *export_api.routes,
            *metrics_api.routes,
            *analytics_api.routes,
            *agents_api.mount(hub),  # creates the agent service; routes before api's
            *api.routes,
            WebSocketRoute("/ws/{doc_id:path}", websocket_endpoint),
            *WebApp(settings).routes(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=[
            Middleware(RawSendMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes),
            Middleware(AuthMiddleware),
        ],
    )
    app.state.hub = hub
    install_auth(app, hub)  # raises ValueError on an unsafe --allow-anonymous
    install_telemetry(app, hub)
    return app

"""The ASGI application: routes, error handlers, and the hub's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import WebSocketRoute

from draftroom.config import Settings
from draftroom.server import api
from draftroom.server.errors import http_exception_handler, server_error_handler
from draftroom.server.hub import Hub
from draftroom.server.ws import websocket_endpoint


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
        routes=[*api.routes, WebSocketRoute("/ws/{doc_id:path}", websocket_endpoint)],
        exception_handlers={HTTPException: http_exception_handler, Exception: server_error_handler},
        lifespan=lifespan,
    )
    app.state.hub = hub
    return app

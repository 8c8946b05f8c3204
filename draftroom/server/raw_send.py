"""Hands the WebSocket endpoint the server's own ASGI ``send``.

Starlette wraps ``send`` twice on the way to a WebSocket endpoint (its exception
middleware and the route's session wrapper), and ``WebSocket.send`` checks state
on every call. Fan-out calls it once per delivered update, so frames go out
through the server's ``send`` directly; the handshake and the close still go
through Starlette, which keeps its state right.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "draftroom.send"


class RawSendMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)

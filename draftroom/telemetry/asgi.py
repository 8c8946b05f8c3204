"""ASGI tracing: the official middleware for HTTP, one plain span per WebSocket session.

The official ASGI middleware wraps every WebSocket ``send`` to set the server span's
status and inject response headers: microseconds per frame, paid on every frame of
every fan-out. A WebSocket session gets a single server span here instead (its
context continues a ``traceparent`` sent with the handshake), and edits are traced
by sampling (telemetry.tracing).
"""

from __future__ import annotations

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

from draftroom.telemetry.tracing import tracer


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.http = OpenTelemetryMiddleware(
            app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            with tracer.start_as_current_span(
                "WebSocket /ws",
                context=extract(headers),
                kind=SpanKind.SERVER,
                attributes={"url.path": scope["path"], "network.protocol.name": "websocket"},
            ):
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

"""GET /metrics: Prometheus text exposition of the node's OpenTelemetry metrics.

Served from the SDK's Prometheus reader (no extra port); 404 when the endpoint is
turned off (``--no-metrics-endpoint`` or ``OTEL_SDK_DISABLED=true``).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from draftroom.errors import NotFound
from draftroom.telemetry import sdk


async def metrics(request: Request) -> Response:
    registry = sdk.state().registry
    if registry is None:
        raise NotFound("the metrics endpoint is turned off")
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]

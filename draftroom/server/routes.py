"""The node's one ordered route table.

Each feature brings its routes (``Feature.routes``); the node's own document API
and the WebSocket endpoint come last. The order matters in one place only, here:
``/api/documents/{doc_id:path}`` is greedy, so every more specific
``/api/documents/{id}/…`` route of a feature must be tried before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.routing import BaseRoute, WebSocketRoute

from draftroom.features import BaseFeature, Feature
from draftroom.server import api
from draftroom.server.ws import websocket_endpoint


class HttpApi(BaseFeature):
    """A feature's HTTP edge: routes only. Its service is a feature of its own, which
    the handlers find by type (``server/services.py``), so domain packages never
    import Starlette routing."""

    def __init__(self, name: str, routes: Sequence[BaseRoute]) -> None:
        self.name = name
        self._routes = tuple(routes)

    def routes(self) -> Sequence[BaseRoute]:
        return self._routes

    def __repr__(self) -> str:
        return f"HttpApi({self.name!r})"


def route_table(features: Iterable[Feature]) -> list[BaseRoute]:
    return [
        *(route for feature in features for route in feature.routes()),
        *api.routes,  # greedy {doc_id:path}: after every feature's document routes
        WebSocketRoute("/ws/{doc_id:path}", websocket_endpoint),
    ]

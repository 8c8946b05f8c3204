"""The web app's HTTP edge: the page, its assets, and live presence per document.

    GET /, /login, /d/{id}        index.html (ETag, Cache-Control: no-cache, CSP)
    GET /assets/{name}            content-hashed files, cached for a year, br/gzip
    GET /api/presence?ids=a,b     who is in each document now, as this node sees it

Client-side routes all answer with the same ``index.html``; the app reads the path.
What is served (the build, the rewritten page, its CSP) is decided in ``draftroom/web/``,
which knows nothing of HTTP; this module only answers requests with it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from draftroom.auth.service import authorize
from draftroom.config import Settings
from draftroom.errors import Invalid, NotFound, Unavailable
from draftroom.features import BaseFeature
from draftroom.server.params import doc_id_problem
from draftroom.server.services import node_of
from draftroom.web import assets, page

IMMUTABLE = "public, max-age=31536000, immutable"
MAX_PRESENCE_IDS = 100


class WebApp(BaseFeature):
    """The writer's app: read once at startup, then served from memory and disk."""

    def __init__(self, settings: Settings, build: assets.Build | None = None) -> None:
        self.asset_url = settings.asset_url
        self.build = build if build is not None else assets.load()
        self.html = self.editor_html = None
        if self.build.built:
            self.html = page.render(self.build, self.asset_url)
            self.editor_html = page.render(self.build, self.asset_url, self.build.editor_chunks)
        self.csp = page.content_security_policy(self.asset_url)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.index, methods=["GET", "HEAD"]),
            Route("/login", self.index, methods=["GET", "HEAD"]),
            Route("/d/{rest:path}", self.editor, methods=["GET", "HEAD"]),
            Route("/assets/{name}", self.asset, methods=["GET", "HEAD"]),
            Route("/api/presence", presence, methods=["GET"]),
        ]

    async def index(self, request: Request) -> Response:
        return self._page(request, self.html)

    async def editor(self, request: Request) -> Response:
        # The same page, plus the editor's chunks preloaded: one round trip less.
        return self._page(request, self.editor_html)

    def _page(self, request: Request, html: str | None) -> Response:
        if html is None:
            raise Unavailable(
                "the web app is not built: run scripts/build-web (scripts/serve does it)",
                code="web_not_built",
            )
        etag = page.etag(html)
        headers = {
            "ETag": etag,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": self.csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)

    async def asset(self, request: Request) -> Response:
        asset = self.build.assets.get(request.path_params["name"])
        if asset is None:
            raise NotFound("no such asset")
        path, coding = asset.choose(request.headers.get("accept-encoding", ""))
        headers = {
            "Cache-Control": IMMUTABLE,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # A CDN origin serves these to pages of another origin (crossorigin + SRI).
            "Access-Control-Allow-Origin": "*",
        }
        if coding is not None:
            headers["Content-Encoding"] = coding
        return FileResponse(path, media_type=asset.content_type, headers=headers)


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


async def presence(request: Request) -> Response:
    """The people in each named document right now, from the room's awareness states."""
    raw = request.query_params.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if len(ids) > MAX_PRESENCE_IDS:
        raise Invalid(f"at most {MAX_PRESENCE_IDS} ids", code="too_many_ids")
    for doc_id in ids:
        if doc_id_problem(doc_id):
            raise Invalid(f"invalid document id {doc_id!r}", code="invalid_id")
    result: dict[str, list[dict[str, Any]]] = {}
    rooms = node_of(request).rooms.rooms
    for doc_id in ids:
        await authorize(request, doc_id, "read")
        room = rooms.get(doc_id)
        result[doc_id] = _people(room.awareness.entries.values()) if room is not None else []
    return JSONResponse({"presence": result})


def _people(entries: Any) -> list[dict[str, Any]]:
    people = []
    for entry in entries:
        try:
            state = json.loads(entry.state)
        except ValueError:
            continue
        user = state.get("user") if isinstance(state, dict) else None
        if isinstance(user, dict) and isinstance(user.get("name"), str):
            people.append({"name": user["name"][:100], "color": str(user.get("color", ""))[:20]})
    return people

"""HTTP edge of search: ``GET /api/search?q=&limit=&cursor=``.

The ``Search`` feature (``draftroom/search``) parses, ranks and cuts snippets; this
module only reads parameters and the caller. The auth middleware's per-IP limit on
``/api/`` covers this route like every other. Unknown parameters are refused so a
typo (``?query=``) is an error, not an unfiltered answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.search.query import BadQuery
from draftroom.search.service import MAX_LIMIT, Search
from draftroom.server.params import int_param, known_params
from draftroom.server.services import auth_of, node_of


async def search(request: Request) -> Response:
    known_params(request, {"q", "limit", "cursor"})
    principal = await auth_of(request).require(request)
    text = request.query_params.get("q")
    if text is None:
        raise BadQuery("pass the words to find as q", code="missing_query")
    limit = int_param(request, "limit", 20, 1, MAX_LIMIT)
    cursor = request.query_params.get("cursor") or None
    body = await node_of(request).feature(Search).search(principal, text, limit, cursor)
    return JSONResponse(body)


routes = [Route("/api/search", search, methods=["GET"])]

"""HTTP API of the writing agents (docs/AGENTS.md).

    GET    /api/agents                            the agents, with availability
    POST   /api/documents/{id}/agents/{name}      invoke; streams NDJSON events
    GET    /api/usage                             LLM usage and cost, filtered
    PUT    /api/usage/budgets/{user}              set (or with null clear) a daily cap
    DELETE /api/agents/cache?agent=&document=     operator cache invalidation
    GET    /api/agents/cache                      cache backend, breaker and counters

Invoking needs the document's ``read`` permission (``edit`` to apply the reply);
usage, budgets and the cache are for site admins (``Auth.require_admin``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from draftroom.agents.base import Requester
from draftroom.agents.service import AgentService, Invocation
from draftroom.agents.usage import UsageQuery
from draftroom.agents.websocket import parse_selection
from draftroom.auth.service import authorize
from draftroom.errors import Invalid, Unavailable
from draftroom.server.body import json_object
from draftroom.server.params import int_param, time_param
from draftroom.server.services import auth_of, node_of

MAX_BODY = 64 * 1024
NDJSON = "application/x-ndjson"


def _service(request: Request) -> AgentService:
    return node_of(request).feature(AgentService)


async def list_agents(request: Request) -> Response:
    await auth_of(request).require(request)  # any signed-in user
    return JSONResponse({"agents": _service(request).describe()})


async def invoke(request: Request) -> Response:
    """Run an agent; the response is NDJSON, one event per line, the very events every
    collaborator receives over the WebSocket (agent.start, agent.chunk…, agent.done or
    agent.error). Refusals before the start are plain JSON errors."""
    service = _service(request)
    doc_id = request.path_params["doc_id"]
    body = await json_object(request, allowed={"params", "selection", "apply"}, max_bytes=MAX_BODY)
    apply = body.get("apply") is True
    principal = await authorize(request, doc_id, "edit" if apply else "read")
    prepared = await service.prepare(
        Invocation(
            doc_id=doc_id,
            agent=request.path_params["name"],
            requester=Requester(principal.user_id, principal.username),
            params=body.get("params"),
            selection=parse_selection(body.get("selection")),
            apply=apply,
        )
    )

    headers = {
        "X-Request-Id": prepared.invocation.request_id,
        "X-Agent-Cache": prepared.source,
        "Cache-Control": "no-store",
    }
    if prepared.cached is not None and not prepared.invocation.apply:
        # A hit is complete at once: send it in one write, not as a stream.
        replay = b"".join([_line(event) async for event in service.stream(prepared)])
        return Response(replay, media_type=NDJSON, headers=headers)

    async def lines() -> AsyncIterator[bytes]:
        async for event in service.stream(prepared):
            yield _line(event)

    return StreamingResponse(lines(), media_type=NDJSON, headers=headers)


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def usage(request: Request) -> Response:
    await auth_of(request).require_admin(request)
    q = request.query_params
    limit = int_param(request, "limit", 100, 0, 1000)
    query = UsageQuery(
        user_id=q.get("user"),
        doc_id=q.get("document"),
        agent=q.get("agent"),
        model=q.get("model"),
        since=time_param(request, "since"),
        until=time_param(request, "until"),
        limit=limit,
    )
    return JSONResponse(await _service(request).usage.report(query))


async def set_budget(request: Request) -> Response:
    await auth_of(request).require_admin(request)
    user_id = request.path_params["user"]
    body = await json_object(request, allowed={"daily_usd"}, max_bytes=MAX_BODY)
    daily = body.get("daily_usd", "missing")
    if daily is not None and (
        isinstance(daily, bool) or not isinstance(daily, int | float) or daily < 0
    ):
        raise Invalid("daily_usd must be a number >= 0, or null to clear")
    service = _service(request)
    await service.usage.set_budget(user_id, None if daily is None else float(daily))
    return JSONResponse(
        {
            "user": user_id,
            "daily_usd": await service.usage.budget(user_id),
            "spent_today_usd": round(await service.usage.spent_today(user_id), 8),
        }
    )


async def invalidate_cache(request: Request) -> Response:
    await auth_of(request).require_admin(request)
    agent = request.query_params.get("agent") or None
    doc_id = request.query_params.get("document") or None
    try:
        removed = await _service(request).invalidate(agent, doc_id)
    except Exception as exc:
        raise Unavailable(f"cache invalidation failed: {exc}") from None
    return JSONResponse({"removed": removed, "agent": agent, "document": doc_id})


async def cache_status(request: Request) -> Response:
    await auth_of(request).require_admin(request)
    service = _service(request)
    return JSONResponse(
        {
            **service.cache.status(),
            "computations": service.flights.started,
            "warm_passes": service.warmer.passes,
            "warm_computations": service.warmer.computed,
        }
    )


routes: list[BaseRoute] = [
    Route("/api/agents", list_agents, methods=["GET"]),
    Route("/api/agents/cache", cache_status, methods=["GET"]),
    Route("/api/agents/cache", invalidate_cache, methods=["DELETE"]),
    Route("/api/usage", usage, methods=["GET"]),
    Route("/api/usage/budgets/{user}", set_budget, methods=["PUT"]),
    Route("/api/documents/{doc_id:doc}/agents/{name}", invoke, methods=["POST"]),
]

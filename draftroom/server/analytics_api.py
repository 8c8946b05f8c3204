"""Admin analytics API: usage aggregates and per-user erasure.

Open to site admins and to whoever presents
``--analytics-admin-token`` as ``Authorization: Bearer <token>`` (for scripts and
dashboards that hold no user account).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.analytics.recorder import Analytics
from draftroom.errors import Invalid, NotFound
from draftroom.server.params import int_param
from draftroom.server.services import auth_of, node_of

MAX_DAYS = 366


async def _analytics(request: Request) -> Analytics:
    node = node_of(request)
    token = node.settings.analytics_admin_token
    given = request.headers.get("authorization", "")
    if not (token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())):
        await auth_of(request).require_admin(request)
    analytics = node.optional(Analytics)
    if analytics is None:
        raise NotFound("analytics is turned off")
    return analytics


async def summary(request: Request) -> Response:
    analytics = await _analytics(request)
    days = int_param(request, "days", 30, 1, MAX_DAYS)
    await analytics.flush()  # include what is still buffered
    return JSONResponse(await analytics.summary(days))


async def erase_user_events(request: Request) -> Response:
    analytics = await _analytics(request)  # authorizes; analytics must be on
    user = request.path_params["user"]
    if not user or len(user) > 500:
        raise Invalid("user id must be 1 to 500 characters")
    deleted = await analytics.erase_everywhere(user)
    return JSONResponse({"user": user, "events_deleted": deleted})


routes = [
    Route("/api/admin/analytics", summary, methods=["GET"]),
    Route("/api/admin/analytics/users/{user:path}", erase_user_events, methods=["DELETE"]),
]

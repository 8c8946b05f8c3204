"""Admin analytics API: usage aggregates and per-user erasure.

Open to site admins (auth, issue 4) and to whoever presents
``--analytics-admin-token`` as ``Authorization: Bearer <token>`` (for scripts and
dashboards that hold no user account).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from draftroom.errors import Forbidden, Invalid, NotFound
from draftroom.server.hub import Hub
from draftroom.server.params import int_param
from draftroom.telemetry.analytics import Analytics
from draftroom.telemetry.node import analytics_for, erase_user

MAX_DAYS = 366


async def _analytics(request: Request) -> Analytics:
    hub: Hub = request.app.state.hub
    token = hub.settings.analytics_admin_token
    given = request.headers.get("authorization", "")
    if not (token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())):
        # Otherwise a site admin of the auth system (issue 4), where it is installed.
        auth = getattr(request.app.state, "auth", None)
        if auth is None:
            raise Forbidden("set an analytics admin token to use this API")
        await auth.require_admin(request)
    analytics = analytics_for(hub)
    if analytics is None:
        raise NotFound("analytics is turned off")
    return analytics


async def summary(request: Request) -> Response:
    analytics = await _analytics(request)
    days = int_param(request, "days", 30, 1, MAX_DAYS)
    await analytics.flush()  # include what is still buffered
    return JSONResponse(await analytics.summary(days))


async def erase_user_events(request: Request) -> Response:
    await _analytics(request)  # authorizes; analytics must be on
    user = request.path_params["user"]
    if not user or len(user) > 500:
        raise Invalid("user id must be 1 to 500 characters")
    deleted = await erase_user(request.app.state.hub, user)
    return JSONResponse({"user": user, "events_deleted": deleted})


routes = [
    Route("/api/admin/analytics", summary, methods=["GET"]),
    Route("/api/admin/analytics/users/{user:path}", erase_user_events, methods=["DELETE"]),
]

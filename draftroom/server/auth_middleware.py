"""HTTP-wide checks before any /api route runs: per-IP rate limit, Origin, CSRF.
It also reads each request's credential into the scope, where ``Auth`` finds it.

In ``--allow-anonymous`` mode every request, sockets too, must also name a loopback
host (or one in ``--allowed-hosts``): anonymous mode trusts whoever can reach the
port, and DNS rebinding lets any web page reach a loopback port under its own host
name. A browser always sends the Host it resolved; a page cannot forge it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from draftroom.auth.origins import SAFE_METHODS, SESSION_COOKIE, csrf_ok, origin_allowed
from draftroom.auth.service import CREDENTIAL, Auth, is_loopback
from draftroom.server.credentials import client_ip, credential
from draftroom.server.errors import error_response


class AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = self.auth
        if scope["type"] in ("http", "websocket"):
            if auth.settings.allow_anonymous and not host_allowed(
                Headers(scope=scope), auth.allowed_hosts
            ):
                await _refuse_host(scope, receive, send)
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        scope[CREDENTIAL] = credential(conn, allow_query=False)[0]
        if not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        response: Response | None = None
        if not auth.settings.allow_anonymous:
            # Loopback development is exempt: every client there shares one address.
            wait = await auth.limiter.hit(
                f"api:ip:{client_ip(conn)}", auth.settings.api_rate_per_minute, 60
            )
            if wait is not None:
                response = error_response(429, "rate_limited", "too many requests; slow down")
                response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        if response is None and scope["method"] not in SAFE_METHODS:
            response = self._cross_site(auth, conn, headers, scope)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _cross_site(
        auth: Auth, conn: HTTPConnection, headers: Headers, scope: Scope
    ) -> Response | None:
        if not origin_allowed(headers, scope.get("scheme", "http"), auth.origins):
            return error_response(403, "origin_not_allowed", "cross-site request refused")
        cookie = conn.cookies.get(SESSION_COOKIE)
        # As server/credentials.py decides: only a Bearer header takes precedence over the
        # cookie, so any other Authorization header still leaves a cookie-authenticated
        # request that needs its CSRF token.
        uses_cookie = cookie and headers.get("authorization", "")[:7].lower() != "bearer "
        is_login = scope["path"] == "/api/sessions" and scope["method"] == "POST"
        if cookie and uses_cookie and not is_login and not csrf_ok(headers, cookie):
            return error_response(
                403, "csrf", "cookie-authenticated writes need the X-CSRF-Token header"
            )
        return None


def host_allowed(headers: Headers, allowed: frozenset[str]) -> bool:
    host = headers.get("host")
    if host is None:
        return True  # HTTP/1.0 programs (health checks); browsers always send Host
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return is_loopback(name) or name in allowed


async def _refuse_host(scope: Scope, receive: Receive, send: Send) -> None:
    message = "anonymous mode only answers requests for a loopback host or --allowed-hosts"
    if scope["type"] == "websocket":
        await WebSocketClose(4403, message)(scope, receive, send)
    else:
        await error_response(403, "host_not_allowed", message)(scope, receive, send)

"""HTTP-wide checks before any /api route runs: per-IP rate limit, Origin, CSRF."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from draftroom.auth.origins import SAFE_METHODS, SESSION_COOKIE, csrf_ok, origin_allowed
from draftroom.auth.service import Auth, client_ip
from draftroom.server.errors import error_response


class AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        auth = self.auth
        conn = HTTPConnection(scope)
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
        uses_cookie = cookie and not headers.get("authorization")
        is_login = scope["path"] == "/api/sessions" and scope["method"] == "POST"
        if cookie and uses_cookie and not is_login and not csrf_ok(headers, cookie):
            return error_response(
                403, "csrf", "cookie-authenticated writes need the X-CSRF-Token header"
            )
        return None

"""Where a request's credential and address are read: the HTTP edge of auth.

Auth works on strings (``Auth.principal_for(secret)``); finding the secret in a Bearer
header, the session cookie or (sockets only) ``?token=`` is transport, so it is here.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from draftroom.auth.origins import SESSION_COOKIE


def credential(conn: HTTPConnection, *, allow_query: bool) -> tuple[str | None, str]:
    """(secret, where it came from): Bearer header, session cookie, or ?token=."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip(), "bearer"
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    if allow_query:
        # y-websocket can only pass credentials as URL params (browsers cannot set
        # WebSocket headers); HTTP callers must use the header, which is not logged.
        token = conn.query_params.get("token")
        if token:
            return token, "query"
    return None, ""


def client_ip(conn: HTTPConnection) -> str:
    # The peer address as the server sees it. Behind a reverse proxy run uvicorn with
    # --forwarded-allow-ips so this is the real client, not the proxy.
    return conn.client.host if conn.client else "unknown"

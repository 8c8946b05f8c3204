"""Request bodies: bounded before they are read, and read only for a known caller.

A body is refused as soon as it is known to be too big: from its Content-Length
before a byte of it is read, or, for a chunked body, at the first chunk past the
limit. Reading first and measuring after let one unauthenticated 800 MB login
body take 1.9 GB of memory. Two layers enforce this:

* ``BodyLimitMiddleware``: a ceiling for every HTTP route, whether or not the
  route reads its body (``--max-request-bytes``).
* ``json_object``: each route's own, smaller maximum, and login first: a body is
  read only after its caller is authenticated, unless the route is ``public``
  (logging in is the one that has to be).

A refused body's response says ``Connection: close``, so the server stops
reading the rest of it instead of draining it.

JSON nesting is bounded too: the decoder recurses, and a few kilobytes of ``[``
would otherwise end in a RecursionError and a 500.

Every reader names the fields it understands. A field it does not know is refused
(422, naming it) rather than ignored: a typo such as ``scope`` for ``scopes`` would
otherwise silently fall back to a default the caller never asked for.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from draftroom.errors import DraftroomError, Invalid, PayloadTooLarge
from draftroom.server.errors import error_response
from draftroom.server.services import auth_of

DEFAULT_MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
CLOSE = {"Connection": "close"}


class TooLarge(PayloadTooLarge):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body over {_size(max_bytes)}", headers=CLOSE)


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n < 1024 * 1024 else f"{n // (1024 * 1024)} MiB"


def declared_length(headers: Headers) -> int | None:
    """The Content-Length, or None for a chunked body; a malformed one is a 400."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise DraftroomError("Content-Length is not a number")
    return int(raw)


class BodyLimitMiddleware:
    """No request body over ``max_bytes`` is read, on any route."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            length = declared_length(Headers(scope=scope))
        except DraftroomError as exc:
            await error_response(exc.status, exc.code, exc.message)(scope, receive, send)
            return
        if length is not None and length > self.max_bytes:
            refusal = TooLarge(self.max_bytes)
            response = error_response(413, refusal.code, refusal.message, refusal.headers)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            # Raised inside the route that reads, so the JSON error handler answers.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, refused (413) at the first byte past ``max_bytes``."""
    length = declared_length(request.headers)
    if length is not None and length > max_bytes:
        raise TooLarge(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(max_bytes)
    return bytes(body)


async def json_object(
    request: Request,
    max_bytes: int = DEFAULT_MAX_BYTES,
    *,
    allowed: Collection[str],
    public: bool = False,
) -> dict[str, Any]:
    if not public:
        await auth_of(request).require(request)
    raw = await read_body(request, max_bytes)
    try:
        body = json.loads(raw or b"{}")
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise DraftroomError("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    if _depth(body) > MAX_DEPTH:
        raise _too_deep()
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid(
            f"unknown field(s): {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    return body


def _too_deep() -> Invalid:
    return Invalid(f"request body nests deeper than {MAX_DEPTH} levels", code="too_deep")


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (the value may be thousands deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest

"""JSON errors: every failure has a stable ``error`` code and a human ``message``.

Routes never translate errors by hand: they (and the features below them) raise a
``draftroom.errors.DraftroomError``, and ``draftroom_error_handler`` renders any of
them the same way. Starlette's own ``HTTPException`` (unknown route, wrong method)
gets the same JSON shape, and anything unexpected a bare JSON 500 with no traceback.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from draftroom.errors import DraftroomError

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


async def draftroom_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DraftroomError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)  # e.g. Retry-After


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _DEFAULT_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal", "internal server error")


EXCEPTION_HANDLERS = {
    DraftroomError: draftroom_error_handler,
    HTTPException: http_exception_handler,
    Exception: server_error_handler,
}

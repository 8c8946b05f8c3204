"""Reading a request's JSON body: one object, bounded in size, or a clear JSON error."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from draftroom.server.errors import ApiError


async def json_object(request: Request, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, "too_large", f"request body over {max_bytes // 1024} KiB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid", "request body must be a JSON object")
    return body

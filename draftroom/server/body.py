"""Reading a request's JSON body: one object, bounded in size, or a clear JSON error.

Every reader names the fields it understands. A field it does not know is refused
(422, naming it) rather than ignored: a typo such as ``scope`` for ``scopes`` would
otherwise silently fall back to a default the caller never asked for.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from starlette.requests import Request

from draftroom.errors import DraftroomError, Invalid, PayloadTooLarge


async def json_object(
    request: Request, *, allowed: Collection[str], max_bytes: int = 64 * 1024
) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body over {max_bytes // 1024} KiB")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise DraftroomError("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Invalid(
            f"unknown field(s): {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed)) or 'none'}"
        )
    return body

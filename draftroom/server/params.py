"""Path and query parameters, checked in one place.

Document ids may contain ``/`` (``novel/ch1``), so a route such as
``/api/documents/{doc_id:doc}/members`` is ambiguous for an id that itself ends in
``/members``: the sub-route wins and the document can never be reached. Ids are
therefore refused at creation (HTTP and WebSocket) when a segment after the first is
one of the sub-route words in ``RESERVED_SEGMENTS``.

The ``doc`` convertor lets a route match only well-formed ids. Starlette ends each
route pattern with ``$``, which also matches before a trailing newline, so the
pattern forbids a newline after the id: ``/api/documents/book%0A`` is not ``book``.
Query integers accept ASCII digits only: ``int()`` also takes ``"²"``-like digits
from other scripts (or raises on them), which is never what a caller meant.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from draftroom.errors import DraftroomError, Invalid, NotFound
from draftroom.store.base import valid_doc_id

# Words that follow a document id in some route under /api/documents/{id}/…; keep in
# step with the routes (and the list in docs/PROTOCOL.md).
RESERVED_SEGMENTS = frozenset({"agents", "content", "export", "import", "members"})

DOC_ID_RULE = (
    "1 to 200 of A-Z a-z 0-9 . _ ~ : @ / -, starting with a letter or digit, without "
    "'//' or '..', and no segment after the first may be one of "
    + ", ".join(sorted(RESERVED_SEGMENTS))
)

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,9})?")


def doc_id_problem(doc_id: str) -> str | None:
    """Why ``doc_id`` cannot name a new document, or None if it can.

    Short enough for a WebSocket close reason (123 bytes); ``DOC_ID_RULE`` has the rest.
    """
    if not valid_doc_id(doc_id):
        return "invalid document id"
    for segment in doc_id.split("/")[1:]:
        if segment in RESERVED_SEGMENTS:
            return f"invalid document id: {segment!r} names a sub-route and cannot follow a '/'"
    return None


class DocIdConvertor(Convertor[str]):
    """``{doc_id:doc}``: a well-formed document id (existence is the handler's job)."""

    regex = r"[A-Za-z0-9][A-Za-z0-9._~:@/-]*(?!\n)"

    def convert(self, value: str) -> str:
        if not valid_doc_id(value):  # too long, '//' or '..': no such document can exist
            raise NotFound("no such document")
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("doc", DocIdConvertor())


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """Query parameter ``name`` as an integer in [lo, hi]; Invalid (422) otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise Invalid(f"{name} must be an integer from {lo} to {hi}")
    return int(raw)


def choice_param(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    """Query parameter ``name``, one of ``choices``; a 400 naming them otherwise (like an
    unknown parameter: a misspelt value must not quietly mean the default)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise DraftroomError(f"{name} must be one of {', '.join(choices)}", code=f"invalid_{name}")
    return raw


def time_param(request: Request, name: str) -> float | None:
    """Query parameter ``name`` as epoch seconds: given as such or as ISO 8601
    (UTC unless it names an offset). None when absent or empty."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if _NUMBER.fullmatch(raw):
        return float(raw)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name} must be epoch seconds or ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def known_params(request: Request, allowed: set[str]) -> None:
    """Refuse query parameters the route does not read (400 naming them), so a
    misspelt filter is an error rather than silently ignored."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise DraftroomError(
            f"unknown query parameter(s): {', '.join(unknown)}; "
            f"this route takes {', '.join(sorted(allowed))}",
            code="unknown_parameter",
        )

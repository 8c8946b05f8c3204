"""The error tree renders the same JSON everywhere; close codes are one enum."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from draftroom import errors
from draftroom.agents.base import AgentError
from draftroom.crdt.protocol import CLOSE_NAMES, CloseCode
from draftroom.server.errors import EXCEPTION_HANDLERS

ROOT = Path(__file__).resolve().parents[2]

RAISED: dict[str, Exception] = {
    "invalid": errors.Invalid("bad field"),
    "not_found": errors.NotFound("no such thing", code="unknown_agent"),
    "last_owner": errors.LastOwner(),
    "rate_limited": errors.RateLimited("slow down", retry_after=2.2),
    "agent": AgentError("the selection changed", code="edit_conflict", status=409),
    "rejected": errors.Rejected("bad frame", close_code=CloseCode.MALFORMED_MESSAGE),
    "crash": RuntimeError("secret internals /etc/passwd"),
}


async def _raise(request: Request) -> Response:
    raise RAISED[request.path_params["name"]]


@pytest.fixture
async def http() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/{name}", _raise)], exception_handlers=EXCEPTION_HANDLERS)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("invalid", 422, "invalid"),
        ("not_found", 404, "unknown_agent"),
        ("last_owner", 409, "last_owner"),
        ("rate_limited", 429, "rate_limited"),
        ("agent", 409, "edit_conflict"),
        ("rejected", 400, "malformed_message"),
    ],
)
async def test_one_handler_renders_every_error(
    http: httpx.AsyncClient, name: str, status: int, code: str
) -> None:
    r = await http.get(f"/{name}")
    assert r.status_code == status
    assert r.json() == {"error": code, "message": str(RAISED[name])}


async def test_rate_limited_says_when_to_retry(http: httpx.AsyncClient) -> None:
    r = await http.get("/rate_limited")
    assert r.headers["retry-after"] == "3"  # rounded up, never 0


async def test_unknown_exceptions_are_a_bare_json_500(http: httpx.AsyncClient) -> None:
    r = await http.get("/crash")
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "message": "internal server error"}
    assert "passwd" not in r.text and "Traceback" not in r.text


async def test_unknown_routes_are_json_too(http: httpx.AsyncClient) -> None:
    r = await http.post("/a/b")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_every_error_class_has_one_argument_order() -> None:
    for cls in (errors.Invalid, errors.Forbidden, errors.Conflict, errors.Unavailable):
        exc = cls("why", code="special", headers={"X-A": "1"})
        assert (exc.message, exc.code, exc.headers) == ("why", "special", {"X-A": "1"})
        assert cls("why").code != "special"  # the narrowed code stays on the instance


def test_errors_that_end_a_socket_carry_their_close_code() -> None:
    assert errors.Unauthenticated("x").close_code == CloseCode.UNAUTHENTICATED == 4401
    assert errors.Forbidden("x").close_code == CloseCode.FORBIDDEN == 4403
    assert errors.RateLimited("x").close_code == CloseCode.RATE_LIMITED == 4429
    assert errors.Invalid("x").close_code is None


def test_the_protocol_doc_lists_exactly_the_close_codes_in_use() -> None:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text()
    table = text[text.index("## Close codes") :]
    documented = {int(n): name for n, name in re.findall(r"^\| (\d{4}) \| `(\w+)` \|", table, re.M)}
    assert documented == CLOSE_NAMES
    assert {c.value for c in CloseCode} == set(CLOSE_NAMES)


def test_no_close_code_literals_outside_the_enum() -> None:
    # A literal such as close(1012, ...) beside the enum is how the two drift apart.
    codes = "|".join(str(c.value) for c in CloseCode)
    call = re.compile(rf"(close\w*|Rejected|abandon)\((?:[^()]*,\s*)?({codes})\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "draftroom").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if call.search(line)
    ]
    assert offenders == []

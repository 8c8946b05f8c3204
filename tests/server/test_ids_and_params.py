"""Document ids that every route can reach, strict query integers, and JSON bodies
that refuse fields they do not know."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from auth.helpers import add_user, auth_server, bearer, login, ws_close

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.client import DraftroomClient

TOKEN = "admin-test-token"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path, analytics_admin_token=TOKEN)) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as client:
        yield client


@pytest.mark.parametrize(
    "doc_id",
    [
        "book/content",
        "book/members",
        "book/members/ann",
        "book/export/pdf",
        "a/agents/x",
        "b/import",
        "book\n",
    ],
)
async def test_ids_a_route_could_not_reach_are_refused(
    http: httpx.AsyncClient, doc_id: str
) -> None:
    r = await http.post("/api/documents", json={"id": doc_id})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_id"
    assert (await http.get("/api/documents")).json()["documents"] == []


async def test_sub_route_words_are_fine_in_the_first_segment_and_inside_words(
    http: httpx.AsyncClient,
) -> None:
    for doc_id in ("content", "members/ch1", "book/contents", "book/export-notes"):
        r = await http.post("/api/documents", json={"id": doc_id})
        assert r.status_code == 201, r.text
        assert (await http.get(f"/api/documents/{doc_id}")).json()["id"] == doc_id


async def test_a_socket_to_an_unreachable_id_is_closed_with_4400(server: RunningServer) -> None:
    code, reason, _ = await ws_close(server.ws("book/content"))
    assert code == 4400 and "'content'" in reason
    assert await server.hub.store.get_document("book/content") is None


async def test_a_trailing_newline_does_not_address_another_document(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/api/documents", json={"id": "book"})).status_code == 201
    r = await http.get("/api/documents/book%0A")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert (await http.get("/api/documents/a..b")).status_code == 404


@pytest.mark.parametrize("days", ["²", "١٢", "+3", " 3", "3.0", "0", "367", ""])
async def test_analytics_days_accepts_only_ascii_integers_in_range(
    http: httpx.AsyncClient, days: str
) -> None:
    r = await http.get("/api/admin/analytics", params={"days": days}, headers=bearer(TOKEN))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and "days" in r.json()["message"]


async def test_analytics_days_in_range_works(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/admin/analytics", params={"days": "7"}, headers=bearer(TOKEN))
    assert r.status_code == 200 and r.json()["days"] == 7


@pytest.mark.parametrize("query", ["limit=١٢", "limit=²", "offset=-1", "limit=501"])
async def test_paging_integers_are_ascii_and_bounded(http: httpx.AsyncClient, query: str) -> None:
    r = await http.get(f"/api/documents?{query}")
    assert r.status_code == 422 and r.json()["error"] == "invalid", r.text


@pytest.mark.parametrize("query", ["since=١٢", "until=nan", "since=inf", "since=yesterday"])
async def test_usage_times_are_epoch_or_iso(http: httpx.AsyncClient, query: str) -> None:
    r = await http.get(f"/api/usage?{query}")
    assert r.status_code == 422 and r.json()["error"] == "invalid", r.text


async def test_usage_times_accept_both_forms(http: httpx.AsyncClient) -> None:
    for query in ("since=1700000000", "since=1700000000.5", "until=2026-11-29T10:45:00Z"):
        assert (await http.get(f"/api/usage?{query}")).status_code == 200, query


# -- unknown fields -----------------------------------------------------------------


async def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and repr(field) in r.json()["message"], r.text


async def test_a_token_body_with_scope_instead_of_scopes_is_refused(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            me = bearer((await login(http, "ann"))["token"])
            r = await http.post("/api/tokens", json={"name": "ci", "scope": ["write"]}, headers=me)
            await _refused(r, "scope")
            assert (await http.get("/api/tokens", headers=me)).json()["tokens"] == []


async def test_every_json_body_refuses_unknown_fields(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            await _refused(
                await http.post(
                    "/api/sessions", json={"username": "ann", "password": "x", "remember": 1}
                ),
                "remember",
            )
            root = bearer((await login(http, "root"))["token"])
            await http.post("/api/documents", json={"id": "doc"}, headers=root)
            cases = [
                (
                    "POST",
                    "/api/users",
                    {"username": "bob", "password": "pw-long-123456", "is_admin": True},
                    "is_admin",
                ),
                ("POST", "/api/documents", {"id": "d2", "titel": "typo"}, "titel"),
                ("PATCH", "/api/documents/doc", {"title": "t", "owner": "x"}, "owner"),
                ("PUT", "/api/documents/doc/members/ann", {"role": "viewer", "x": 1}, "x"),
                ("POST", "/api/export", {"documents": ["doc"], "format": "md", "fmt": 1}, "fmt"),
                ("POST", "/api/export/jobs", {"documents": ["doc"], "format": "md", "z": 1}, "z"),
                ("POST", "/api/documents/doc/agents/outline", {"param": {}}, "param"),
                ("PUT", "/api/usage/budgets/ann", {"daily_usd": 1, "weekly_usd": 5}, "weekly_usd"),
            ]
            for method, url, body, field in cases:
                await _refused(await http.request(method, url, json=body, headers=root), field)
            users = (await http.get("/api/users", headers=root)).json()["users"]
            assert {u["username"] for u in users} == {"root", "ann"}  # nothing half-made
            members = (await http.get("/api/documents/doc/members", headers=root)).json()
            assert [m["user"] for m in members["members"]] == ["root"]


# -- scopes ---------------------------------------------------------------------------


async def test_a_write_token_can_open_and_edit_a_document(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            me = bearer((await login(http, "ann"))["token"])
            await http.post("/api/documents", json={"id": "doc"}, headers=me)
            r = await http.post("/api/tokens", json={"name": "w", "scopes": ["write"]}, headers=me)
            write = r.json()["token"]
            assert (await http.get("/api/documents/doc", headers=bearer(write))).status_code == 200
            content = await http.get("/api/documents/doc/content", headers=bearer(write))
            assert content.status_code == 200
        async with DraftroomClient(server.ws("doc") + f"?token={write}") as client:
            await client.wait_saved(client.insert("hello"))
            assert client.close_code is None
            assert not any(m.get("code") == "read_only" for m in client.app_log)
        state = await server.hub.store.load("doc")
        assert state.updates, "the write token's edit was saved"


async def test_websocket_ids_are_checked_before_credentials(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        code, _, _ = await ws_close(server.ws("x/members"))
        assert code == 4400  # not 4401: the id is wrong whoever asks

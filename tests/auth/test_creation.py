"""Who may create a document, and what creating one may never do: share it silently
with someone who got there first, bring a deleted id back, or leave it without an
owner. On both stores."""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest

from auth.helpers import add_user, auth_server, bearer, login, ws_close
from draftroom.auth.permissions import Members
from draftroom.auth.users import Users
from draftroom.client import DraftroomClient

STORES = ["sqlite", "postgres"]


def _url(store: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("postgres_url") if store == "postgres" else None


async def _token(http: httpx.AsyncClient, me: dict[str, str], scope: str) -> str:
    r = await http.post("/api/tokens", json={"name": scope, "scopes": [scope]}, headers=me)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def _members(http: httpx.AsyncClient, doc: str, me: dict[str, str]) -> dict[str, str]:
    r = await http.get(f"/api/documents/{doc}/members", headers=me)
    assert r.status_code == 200, r.text
    return {m["user"]: m["role"] for m in r.json()["members"]}


@pytest.mark.parametrize("store", STORES)
async def test_a_socket_cannot_squat_an_id_that_post_then_shares(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    async with auth_server(tmp_path, _url(store, request)) as server:
        for name in ("squatter", "author"):
            await add_user(server.hub, name)
        async with httpx.AsyncClient(base_url=server.http) as http:
            squatter = (await login(http, "squatter"))["token"]
            author = bearer((await login(http, "author"))["token"])
            # The squatter may create documents, so opening a socket creates this one.
            async with DraftroomClient(server.ws("book") + f"?token={squatter}"):
                pass
            # The author's POST must not hand them a document someone else co-owns.
            r = await http.post("/api/documents", json={"id": "book"}, headers=author)
            assert (r.status_code, r.json()["error"]) == (409, "exists")
            assert await _members(http, "book", bearer(squatter)) == {"squatter": "owner"}
            r = await http.get("/api/documents/book", headers=author)
            assert r.status_code == 403
            # The other way round: the POSTed id is not opened to a stranger's socket.
            r = await http.post("/api/documents", json={"id": "essay"}, headers=author)
            assert r.status_code == 201
            code, reason, _ = await ws_close(server.ws("essay") + f"?token={squatter}")
            assert (code, reason) == (4403, "you have no access to this document")
            r = await http.post("/api/documents", json={"id": "essay"}, headers=bearer(squatter))
            assert r.status_code == 409
            assert await _members(http, "essay", author) == {"author": "owner"}


@pytest.mark.parametrize("store", STORES)
async def test_a_socket_tells_a_stranger_nothing_and_creates_nothing(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    async with auth_server(tmp_path, _url(store, request)) as server:
        for name in ("owner", "reader"):
            await add_user(server.hub, name)
        async with httpx.AsyncClient(base_url=server.http) as http:
            owner = bearer((await login(http, "owner"))["token"])
            reader = bearer((await login(http, "reader"))["token"])
            read_only = await _token(http, reader, "read")
            assert (
                await http.post("/api/documents", json={"id": "secret"}, headers=owner)
            ).status_code == 201
            # A principal that may not create gets the same answer for a document that
            # exists and one that does not, and its socket creates nothing.
            seen = {
                doc: (await ws_close(server.ws(doc) + f"?token={read_only}"))[:2]
                for doc in ("secret", "unused")
            }
            assert seen["secret"] == seen["unused"] == (4403, "you have no access to this document")
            assert await server.hub.store.get_document("unused") is None
            rows = await server.hub.store.sql.fetch(
                "SELECT user_id FROM document_members WHERE doc_id = 'unused'"
            )
            assert rows == []
            # HTTP agrees: 403 for both.
            for doc in ("secret", "unused"):
                r = await http.get(f"/api/documents/{doc}", headers=reader)
                assert (r.status_code, r.json()["error"]) == (403, "forbidden")


@pytest.mark.parametrize("store", STORES)
async def test_a_deleted_id_stays_deleted(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    async with auth_server(tmp_path, _url(store, request)) as server:
        for name in ("owner", "helper"):
            await add_user(server.hub, name)
        async with httpx.AsyncClient(base_url=server.http) as http:
            owner = bearer((await login(http, "owner"))["token"])
            helper_token = (await login(http, "helper"))["token"]
            assert (
                await http.post("/api/documents", json={"id": "draft"}, headers=owner)
            ).status_code == 201
            r = await http.put(
                "/api/documents/draft/members/helper", json={"role": "editor"}, headers=owner
            )
            assert r.status_code == 200
            helper = DraftroomClient(server.ws("draft") + f"?token={helper_token}")
            await helper.connect()
            await helper.wait_saved(helper.insert("the helper's text"))
            assert (await http.delete("/api/documents/draft", headers=owner)).status_code == 204
            assert await helper.wait_closed() == 4404
            # The helper's client reconnects, still holding the text.
            await helper.connect(wait_synced=False)
            assert await helper.wait_closed() == 4404
            assert helper.close_reason == "document deleted"
            assert str(helper.text) == "the helper's text"
            store_ = server.hub.store
            assert await store_.get_document("draft") is None
            assert (await store_.load("draft")).seq == 0
            assert not await Members(server.hub.store.sql).any("draft")
            for who in (owner, bearer(helper_token)):
                r = await http.post("/api/documents", json={"id": "draft"}, headers=who)
                assert (r.status_code, r.json()["error"]) == (410, "deleted")
            assert await store_.get_document("draft") is None


@pytest.mark.parametrize("store", STORES)
async def test_an_admin_who_creates_by_connecting_owns_the_document(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    async with auth_server(tmp_path, _url(store, request)) as server:
        await add_user(server.hub, "root", admin=True)
        async with httpx.AsyncClient(base_url=server.http) as http:
            root = (await login(http, "root"))["token"]
            async with DraftroomClient(server.ws("memo") + f"?token={root}") as client:
                await client.wait_saved(client.insert("hello"))
            assert await _members(http, "memo", bearer(root)) == {"root": "owner"}
            meta = await server.hub.store.get_document("memo")
            assert meta is not None


@pytest.mark.parametrize("store", STORES)
async def test_deleting_a_documents_only_owner_is_refused(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    async with auth_server(tmp_path, _url(store, request)) as server:
        await add_user(server.hub, "root", admin=True)
        for name in ("ann", "bob"):
            await add_user(server.hub, name)
        async with httpx.AsyncClient(base_url=server.http) as http:
            root = bearer((await login(http, "root"))["token"])
            ann = bearer((await login(http, "ann"))["token"])
            for doc in ("ann-1", "ann-2"):
                assert (
                    await http.post("/api/documents", json={"id": doc}, headers=ann)
                ).status_code == 201
            r = await http.delete("/api/users/ann", headers=root)
            assert (r.status_code, r.json()["error"]) == (409, "last_owner")
            assert "ann-1" in r.json()["message"] and "ann-2" in r.json()["message"]
            # Nothing was taken away: ann still logs in and owns both.
            assert await _members(http, "ann-1", ann) == {"ann": "owner"}
            # With another owner on one and the other deleted, ann may go.
            r = await http.put(
                "/api/documents/ann-1/members/bob", json={"role": "owner"}, headers=ann
            )
            assert r.status_code == 200
            assert (await http.delete("/api/documents/ann-2", headers=ann)).status_code == 204
            assert (await http.delete("/api/users/ann", headers=root)).status_code == 204
            assert await _members(http, "ann-1", root) == {"bob": "owner"}


async def test_the_cli_refuses_to_delete_a_documents_only_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from draftroom.cli_users import _run
    from draftroom.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path)
    await store.open()
    try:
        ann = await Users(store.sql).create("ann", "pw-ann-123456")
        await Members(store.sql).grant("ann-doc", ann.id, "owner")
    finally:
        await store.close()
    args = argparse.Namespace(
        user_command="delete", username="ann", database_url=None, data_dir=tmp_path, redis_url=None
    )
    assert await _run(args) == 1
    assert "only owner of: ann-doc" in capsys.readouterr().err
    store = SQLiteStore(tmp_path)
    await store.open()
    try:
        assert await Users(store.sql).find("ann") is not None
        assert await Members(store.sql).role("ann-doc", ann.id) == "owner"
    finally:
        await store.close()


async def test_deleting_closes_editors_on_every_node_at_once(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    # A long re-check period: only the deletion message can close the far socket in time.
    both = {"redis_url": redis_url, "auth_recheck_seconds": 60.0}
    async with (
        auth_server(tmp_path / "a", postgres_url, **both) as one,
        auth_server(tmp_path / "b", postgres_url, **both) as two,
    ):
        for name in ("owner", "helper"):
            await add_user(one.hub, name)
        async with httpx.AsyncClient(base_url=one.http) as http:
            owner = bearer((await login(http, "owner"))["token"])
            helper_token = (await login(http, "helper"))["token"]
            assert (
                await http.post("/api/documents", json={"id": "shared"}, headers=owner)
            ).status_code == 201
            r = await http.put(
                "/api/documents/shared/members/helper", json={"role": "editor"}, headers=owner
            )
            assert r.status_code == 200
            async with DraftroomClient(two.ws("shared") + f"?token={helper_token}") as far:
                await far.wait_saved(far.insert("typed on node two"))
                assert (
                    await http.delete("/api/documents/shared", headers=owner)
                ).status_code == 204
                assert await far.wait_closed(3) == 4404
                assert far.close_reason == "document deleted"
        assert await two.hub.store.get_document("shared") is None
        assert await two.hub.store.is_deleted("shared")

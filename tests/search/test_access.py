"""Who sees what, on both stores: a reader finds only documents it may read, and a
delete, a revoked role or an edit shows in the results without a rebuild."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from auth.helpers import add_user, auth_server, bearer, login

from devtools.waiting import eventually
from draftroom.client import DraftroomClient
from draftroom.search.service import Search
from search.helpers import FAST, caught_up, ydoc_update

ROLES = ["owner", "editor", "commenter", "viewer", None]  # None: a stranger
SECRET_WORDS = ("Zanzibar", "Quetzal")  # title word, body word of the private document


async def _setup(server, http: httpx.AsyncClient) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Admin "root" makes a private document and a shared one; returns headers by name."""
    await add_user(server.hub, "root", admin=True)
    for name in ("u", "other"):
        await add_user(server.hub, name)
    admin = bearer((await login(http, "root"))["token"])
    for doc_id, title, text in [
        ("private", "Zanzibar plans", "The quetzal flies at dawn over the harbour."),
        ("shared", "Harbour log", "Ships in the harbour at dawn."),
    ]:
        r = await http.post("/api/documents", json={"id": doc_id, "title": title}, headers=admin)
        assert r.status_code == 201, r.text
        await server.hub.store.append(doc_id, ydoc_update(text))
    await server.hub.store.flush()
    r = await http.put(
        "/api/documents/shared/members/other", json={"role": "viewer"}, headers=admin
    )
    assert r.status_code == 200, r.text
    await caught_up(server)
    return {
        "root": admin["Authorization"],
        "other": bearer((await login(http, "other"))["token"])["Authorization"],
    }


def _leaks(body: str) -> bool:
    return any(word.lower() in body.lower() for word in SECRET_WORDS)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "stranger")
async def test_permission_matrix(tmp_path: Path, store_url: str | None, role: str | None) -> None:
    async with auth_server(tmp_path, store_url, **FAST) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            headers = await _setup(server, http)
            admin = {"Authorization": headers["root"]}
            if role:
                r = await http.put(
                    "/api/documents/private/members/u", json={"role": role}, headers=admin
                )
                assert r.status_code == 200, r.text
            session = bearer((await login(http, "u"))["token"])
            http.cookies.clear()  # each request below carries only its own credential
            credentials = [session]
            for scopes in (["read"], ["write"], ["admin"]):
                r = await http.post(
                    "/api/tokens",
                    json={"name": "-".join(scopes), "scopes": scopes},
                    headers=session,
                )
                assert r.status_code == 201, r.text
                credentials.append(bearer(r.json()["token"]))
            for creds in credentials:
                for q in ("dawn", "zanzibar", "quetzal", "harbour", "zan"):
                    r = await http.get("/api/search", params={"q": q}, headers=creds)
                    assert r.status_code == 200, r.text
                    ids = {h["id"] for h in r.json()["results"]}
                    assert ("private" in ids) == (role is not None), (q, ids)
                    assert "shared" not in ids  # u holds no role on it
                    if role is None:
                        assert not _leaks(json.dumps(r.json()["results"])), r.text
                r = await http.get("/api/documents", params={"q": "zanzibar"}, headers=creds)
                assert [d["id"] for d in r.json()["documents"]] == (["private"] if role else [])
            # the site admin sees every document; no credentials: 401
            r = await http.get("/api/search", params={"q": "dawn"}, headers=admin)
            assert {h["id"] for h in r.json()["results"]} == {"private", "shared"}
            r = await http.get("/api/search", params={"q": "dawn"})
            assert r.status_code == 401 and not _leaks(r.text)


async def test_delete_and_revoke_disappear_at_once(tmp_path: Path, store_url: str | None) -> None:
    async with auth_server(tmp_path, store_url, **FAST) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            headers = await _setup(server, http)
            admin, other = {"Authorization": headers["root"]}, {"Authorization": headers["other"]}

            async def ids(creds: dict[str, str], q: str = "dawn") -> set[str]:
                r = await http.get("/api/search", params={"q": q}, headers=creds)
                assert r.status_code == 200, r.text
                return {h["id"] for h in r.json()["results"]}

            assert await ids(other) == {"shared"}
            r = await http.put(
                "/api/documents/private/members/other", json={"role": "editor"}, headers=admin
            )
            assert await ids(other) == {"shared", "private"}
            r = await http.delete("/api/documents/private/members/other", headers=admin)
            assert r.status_code == 204, r.text
            assert await ids(other) == {"shared"}  # revoked: gone in the next request
            r = await http.delete("/api/documents/private", headers=admin)
            assert r.status_code == 204, r.text
            assert await ids(admin) == {"shared"}  # deleted: gone, and its row with it
            row = await server.hub.feature(Search).engine.sql.fetchrow(
                "SELECT count(*) AS n FROM search_documents WHERE doc_id = 'private'"
            )
            assert row is not None and row["n"] == 0


async def test_an_edit_is_searchable_within_two_seconds(
    tmp_path: Path, store_url: str | None
) -> None:
    from search.helpers import search_server

    async with search_server(tmp_path, store_url) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            async with DraftroomClient(server.ws("fresh")) as writer:
                for word in ("albatross", "bittern", "cormorant"):
                    n = writer.insert(f" {word}")
                    await writer.wait_saved(n)
                    saved = time.monotonic()

                    async def found(word: str = word) -> bool:
                        r = await http.get("/api/search", params={"q": word + " "})
                        return [h["id"] for h in r.json()["results"]] == ["fresh"]

                    await eventually(found, within=2.0, interval=0.01)
                    assert time.monotonic() - saved < 2.0
            r = await http.patch("/api/documents/fresh", json={"title": "Seabirds"})
            assert r.status_code == 200, r.text

            async def titled() -> bool:
                r = await http.get("/api/search", params={"q": "seabirds"})
                return [h["title_match"] for h in r.json()["results"]] == [True]

            await eventually(titled, within=2.0, interval=0.01)


async def test_search_is_under_the_api_rate_limit(tmp_path: Path) -> None:
    async with auth_server(tmp_path, None, api_rate_per_minute=5, **FAST) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            codes = [
                (await http.get("/api/search", params={"q": "dawn"})).status_code for _ in range(7)
            ]
    assert codes[:5] == [401] * 5  # counted before credentials are even looked at
    assert codes[5:] == [429, 429]

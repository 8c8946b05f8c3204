"""GET /api/documents sorted by the database on both stores: every page is cut from
one total order, for a site admin (every document) and for a member (their roles)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth.helpers import add_user, auth_server, bearer, login

# Equal titles (and case-only differences) make the id tiebreaker matter.
TITLES = ["delta", "Alpha", "charlie", "alpha", "bravo", "delta", "", "echo", "alpha"]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def clients(
    tmp_path: Path, store_url: str | None
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with auth_server(tmp_path, store_url) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "ann")
        await add_user(server.hub, "bob")
        out: dict[str, httpx.AsyncClient] = {}
        async with httpx.AsyncClient(base_url=server.http) as anon:
            for name in ("root", "ann", "bob"):
                token = (await login(anon, name))["token"]
                out[name] = httpx.AsyncClient(base_url=server.http, headers=bearer(token))
        try:
            ann = out["ann"]
            for i, title in enumerate(TITLES):
                r = await ann.post("/api/documents", json={"id": f"d{i}", "title": title})
                assert r.status_code == 201, r.text
                if i % 3:  # bob holds a role on some of them
                    r = await ann.put(f"/api/documents/d{i}/members/bob", json={"role": "viewer"})
                    assert r.status_code == 200, r.text
            # An edit moves updated_at away from the creation order.
            r = await ann.patch("/api/documents/d1", json={"title": "Alpha"})
            assert r.status_code == 200, r.text
            yield out
        finally:
            for client in out.values():
                await client.aclose()


def _key(doc: dict[str, Any], sort: str) -> Any:
    if sort == "title":
        return str(doc["title"]).lower()
    return datetime.fromisoformat(str(doc[sort]))


async def _pages(http: httpx.AsyncClient, size: int, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        r = await http.get("/api/documents", params={**params, "limit": size, "offset": len(out)})
        assert r.status_code == 200, r.text
        page: list[dict[str, Any]] = r.json()["documents"]
        out += page
        if len(page) < size:
            return out


async def test_pages_follow_one_order_across_the_whole_list(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    for sort in ("title", "created_at", "updated_at"):
        for order in ("asc", "desc"):
            for who, expected in (("root", len(TITLES)), ("ann", len(TITLES)), ("bob", 6)):
                where = (sort, order, who)
                whole = await _pages(clients[who], 100, sort=sort, order=order)
                assert len(whole) == expected, where
                keys = [_key(d, sort) for d in whole]
                assert keys == sorted(keys, reverse=order == "desc"), (where, whole)
                # Equal keys fall back to the id, ascending either way: the order is total.
                for a, b in pairwise(whole):
                    if _key(a, sort) == _key(b, sort):
                        assert a["id"] < b["id"], (where, a, b)
                for size in (1, 2, 4):
                    paged = await _pages(clients[who], size, sort=sort, order=order)
                    assert [d["id"] for d in paged] == [d["id"] for d in whole], (where, size)


async def test_defaults_titles_a_to_z_and_times_newest_first(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    ann = clients["ann"]
    by_title = [d["id"] for d in await _pages(ann, 100, sort="title")]
    assert by_title == [d["id"] for d in await _pages(ann, 100, sort="title", order="asc")]
    assert by_title[0] == "d6"  # the untitled one: "" sorts first
    newest = [d["id"] for d in await _pages(ann, 100)]
    assert newest == [d["id"] for d in await _pages(ann, 100, sort="updated_at", order="desc")]
    assert newest[0] == "d1"  # renamed last


async def test_unknown_sorts_and_orders_are_refused(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    for query, code in [
        ("sort=name", "invalid_sort"),
        ("sort=", "invalid_sort"),
        ("sort=TITLE", "invalid_sort"),
        ("order=up", "invalid_order"),
        ("sort=title&order=DESC", "invalid_order"),
        ("q=alpha&sort=title", "invalid_sort"),
        ("sorting=title", "unknown_parameter"),
    ]:
        r = await clients["ann"].get(f"/api/documents?{query}")
        assert r.status_code == 400, (query, r.text)
        assert r.json()["error"] == code and r.json()["message"], query


async def _roles(http: httpx.AsyncClient, params: dict[str, str]) -> dict[str, str]:
    """{id: role} of a listing; titles reach the search index (q) a moment after they
    are written, so an empty answer is asked again for a while."""
    for _ in range(100):
        r = await http.get("/api/documents", params=params)
        assert r.status_code == 200, r.text
        if r.json()["documents"]:
            break
        await asyncio.sleep(0.1)
    return {d["id"]: d["role"] for d in r.json()["documents"]}


async def test_each_document_carries_the_callers_role(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    r = await clients["ann"].put("/api/documents/d2/members/bob", json={"role": "editor"})
    assert r.status_code == 200, r.text
    expected = {
        "root": {f"d{i}": "owner" for i in range(len(TITLES))},  # a site admin owns all
        "ann": {f"d{i}": "owner" for i in range(len(TITLES))},
        "bob": {f"d{i}": "editor" if i == 2 else "viewer" for i in range(len(TITLES)) if i % 3},
    }
    for who, roles in expected.items():
        for params in ({}, {"limit": "2", "offset": "1"}, {"q": "alpha"}):
            got = await _roles(clients[who], params)
            assert got and got == {k: roles[k] for k in got}, (who, params, got)

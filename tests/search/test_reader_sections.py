"""A reader's section matches are found through the full-text index first and only
then checked for access (PostgreSQL reads them from a CTE), so what a member finds
must be exactly what an admin finds among the documents the member may read: the
same documents, in the same order, with the same sections, on both stores, by
either of PostgreSQL's two paths. Covered
for a title word (in every section of its documents), a body word, several words
in different sections (document-level matches) and an exclusion."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from draftroom.auth.principal import Principal
from draftroom.search import postgres as search_postgres
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore
from search.helpers import indexed

IDS = [f"d{i:02}" for i in range(30)]
READABLE = set(IDS[::3])
ADMIN = Principal("root", "root", True, "session")
MEMBER = Principal("reader", "reader", False, "session")


def _text(i: int) -> str:
    tail = "the lantern swung" if i % 2 else "the harbour slept"
    return f"# Part One\nthe meadow lay quiet number{i}\n# Part Two\n{tail}"


@pytest_asyncio.fixture
async def search(tmp_path: Path, store_url: str | None) -> AsyncIterator[Search]:
    store: Any = PostgresStore(store_url) if store_url else SQLiteStore(tmp_path / "data")
    await store.open()
    docs = [
        (d, f"Tidewater {'annals' if i % 4 else 'log'} {i}", _text(i)) for i, d in enumerate(IDS)
    ]
    async with indexed(store, docs) as found:
        # Access is checked when searching, never indexed: granting after is the same.
        await store.sql.executemany(
            "INSERT INTO document_members (doc_id, user_id, role, granted_at)"
            " VALUES ($1, $2, $3, $4)",
            [(d, MEMBER.user_id, "viewer", time.time()) for d in sorted(READABLE)],
        )
        yield found


async def _all(search: Search, who: Principal, q: str) -> list[tuple[str, str]]:
    listed, cursor = [], None
    while True:
        body = await search.search(who, q, 4, cursor)
        listed += [(r["id"], r["snippet"]) for r in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return listed


@pytest.mark.parametrize("gin_first", [True, False], ids=["gin-first", "document-walk"])
@pytest.mark.parametrize(
    "q", ["tidewater ", "lantern ", "tidewater lantern ", "meadow harbour ", "tidewater -log "]
)
async def test_a_member_finds_what_an_admin_finds_among_its_documents(
    search: Search, q: str, gin_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL takes the GIN-first path below SPARSE estimated sections (all of
    # this small corpus), the walk of the reader's documents above it.
    monkeypatch.setattr(search_postgres, "SPARSE", 100_000 if gin_first else 0)
    everyone = await _all(search, ADMIN, q)
    mine = await _all(search, MEMBER, q)
    assert mine, q
    assert mine == [hit for hit in everyone if hit[0] in READABLE]

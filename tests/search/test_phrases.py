"""A phrase too common to rank is read in the engine's index order a page at a time,
and every document holding it is reachable through the cursor: the pages together
are exactly the documents holding it, each once, title matches first, on both
stores, whether the engine judged the phrase common at once or found more sections
than it ranks. No bound on what is read may lose a match: a half-remembered line of
common words must be found wherever it is."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from draftroom.auth.principal import ANONYMOUS, Principal
from draftroom.search import engine
from draftroom.search import postgres as search_postgres
from draftroom.search import sqlite as search_sqlite
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore
from search.helpers import indexed, ydoc_update

IDS = [f"d{i:02}" for i in range(40)]
# The phrase "the beacon" is in the opening section of every document but every fifth
# (which has both words, apart); every third has "fog" in its second section; two
# titles hold the phrase; every fourth is edited after indexing so that it holds the
# phrase in a second section written later (on SQLite: a later rowid).
APART = {d for i, d in enumerate(IDS) if i % 5 == 0}
FOGGY = {d for i, d in enumerate(IDS) if i % 3 == 0}
TITLED = {"d07", "d13"}
EDITED = [d for i, d in enumerate(IDS) if i % 4 == 1]
HOLDING = (set(IDS) - APART) | set(EDITED)  # the edit put it in two of APART
MEMBER = Principal("reader", "reader", False, "session")
READABLE = set(IDS[::2])


def _title(i: int, doc_id: str) -> str:
    return f"Log {i} of the beacon" if doc_id in TITLED else f"Log {i}"


def _text(i: int, doc_id: str) -> str:
    opening = "beacon burned the" if doc_id in APART else "the beacon burned"
    later = "the fog rolled in" if doc_id in FOGGY else "clear skies"
    return f"# Part One\n{opening} number{i}\n# Part Two\n{later}"


@pytest_asyncio.fixture
async def search(tmp_path: Path, store_url: str | None) -> AsyncIterator[Search]:
    store: Any = PostgresStore(store_url) if store_url else SQLiteStore(tmp_path / "data")
    await store.open()
    docs = [(d, _title(i, d), _text(i, d)) for i, d in enumerate(IDS)]
    async with indexed(store, docs) as found:
        # Access is checked when searching, never indexed: granting after is the same.
        await store.sql.executemany(
            "INSERT INTO document_members (doc_id, user_id, role, granted_at)"
            " VALUES ($1, $2, $3, $4)",
            [(d, MEMBER.user_id, "viewer", time.time()) for d in sorted(READABLE)],
        )
        for doc_id in EDITED:  # a new section holding the phrase, after all the others
            await store.append(doc_id, ydoc_update(f"# Part Zero\nagain the beacon {doc_id}\n"))
        await store.flush()
        assert await found.index_many(EDITED) == len(EDITED)
        yield found


async def _pages(search: Search, q: str, limit: int, who: Any = ANONYMOUS) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        body = await search.search(who, q, limit, cursor)
        pages.append(body["results"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move"


def _bound_reads(monkeypatch: pytest.MonkeyPatch, common: bool) -> None:
    """Every bound on sections read or ranked at 6, so that a path which ranks a
    bounded set of matches loses some of these; ``common``: the engines judge every
    query common (otherwise: selective, so they rank, and find more than 6)."""
    for module in (engine, search_sqlite, search_postgres):
        monkeypatch.setattr(module, "RANKED", 6)
    monkeypatch.setattr(search_sqlite, "UNRANKED", 6)
    monkeypatch.setattr(engine, "CHECKED", 6)
    monkeypatch.setattr(search_postgres, "CHECKED", 6)
    if common:
        monkeypatch.setattr(search_sqlite, "SELECTIVE", 1)
        monkeypatch.setattr(search_postgres, "DENSE_PHRASE", 0, raising=False)


@pytest.mark.parametrize("common", [True, False], ids=["judged-common", "over-ranked"])
@pytest.mark.parametrize("limit", [3, 7])
async def test_every_page_of_a_common_phrase_together_is_every_match_once(
    search: Search, monkeypatch: pytest.MonkeyPatch, common: bool, limit: int
) -> None:
    _bound_reads(monkeypatch, common)
    pages = await _pages(search, '"the beacon" ', limit)
    listed = [r["id"] for page in pages for r in page]
    assert len(listed) == len(set(listed)), "a document was listed twice"
    assert set(listed) == HOLDING
    assert all(len(page) == limit for page in pages[:-1])
    hits = [r for page in pages for r in page]
    assert {r["id"] for r in hits if r["title_match"]} == TITLED
    assert [r["title_match"] for r in hits] == sorted(
        (r["title_match"] for r in hits), reverse=True
    ), "title matches come first"
    for r in hits:  # the snippet is of a section holding the phrase
        marked = " ".join(p["text"].lower() for p in r["snippet"] if p["match"])
        assert r["title_match"] or "beacon" in marked, r


@pytest.mark.parametrize("common", [True, False], ids=["judged-common", "over-ranked"])
async def test_a_common_phrase_with_an_exclusion_pages_through_every_match(
    search: Search, monkeypatch: pytest.MonkeyPatch, common: bool
) -> None:
    _bound_reads(monkeypatch, common)
    listed = [r["id"] for page in await _pages(search, '"the beacon" -fog ', 4) for r in page]
    assert len(listed) == len(set(listed))
    assert set(listed) == HOLDING - FOGGY


@pytest.mark.parametrize("common", [True, False], ids=["judged-common", "over-ranked"])
async def test_a_member_pages_through_the_common_phrase_in_its_documents(
    search: Search, monkeypatch: pytest.MonkeyPatch, common: bool
) -> None:
    _bound_reads(monkeypatch, common)
    listed = [r["id"] for page in await _pages(search, '"the beacon" ', 3, MEMBER) for r in page]
    assert len(listed) == len(set(listed))
    assert set(listed) == HOLDING & READABLE


async def test_a_selective_phrase_is_still_ranked(search: Search) -> None:
    # Found in fewer sections than are ranked: scores from the engine's relevance, and
    # every match on one page.
    body = await search.search(ANONYMOUS, '"the fog" ', 50, None)
    assert {r["id"] for r in body["results"]} == FOGGY
    assert body["next_cursor"] is None
    assert all(r["score"] > 0 for r in body["results"])

"""Excluded words are checked on the best-ranked candidates a batch at a time, not by
reading every section that holds them: paging through a query with an exclusion
still lists exactly the documents without the word, once each, on both stores, and
a page the check bound leaves short ends the results instead of failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from draftroom.auth.principal import ANONYMOUS
from draftroom.search import engine
from draftroom.search import postgres as search_postgres
from draftroom.search import sqlite as search_sqlite
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore
from search.helpers import indexed

# 40 documents hold "beacon"; every third also holds "fog", in another section, so a
# section without "fog" does not clear its document.
IDS = [f"d{i:02}" for i in range(40)]
FOGGY = {d for i, d in enumerate(IDS) if i % 3 == 0}


def _text(i: int) -> str:
    later = "\n# Part Two\nthe fog rolled in" if i % 3 == 0 else "\n# Part Two\nclear skies"
    return f"# Part One\nthe beacon burned number{i}{later}"


@pytest_asyncio.fixture
async def search(tmp_path: Path, store_url: str | None) -> AsyncIterator[Search]:
    store: Any = PostgresStore(store_url) if store_url else SQLiteStore(tmp_path / "data")
    await store.open()
    async with indexed(store, [(d, f"Log {i}", _text(i)) for i, d in enumerate(IDS)]) as found:
        yield found


async def _pages(search: Search, q: str, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        body = await search.search(ANONYMOUS, q, limit, cursor)
        pages.append([r["id"] for r in body["results"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_paging_with_an_exclusion_lists_each_document_without_it_once(
    search: Search,
) -> None:
    pages = await _pages(search, "beacon -fog", 4)
    listed = [d for page in pages for d in page]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(IDS) - FOGGY
    assert all(len(page) == 4 for page in pages[:-1])


async def test_a_page_the_check_bound_leaves_short_ends_the_results(
    search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every document holds "burned", so all 40 are candidates; "fog" in every third
    # means 2 of every 3 checked pass: 6 checked documents give at most 4 hits.
    monkeypatch.setattr(engine, "EXCLUSION_CHECKED", 6)
    body = await search.search(ANONYMOUS, "burned -fog", 10, None)
    ids = [r["id"] for r in body["results"]]
    assert 0 < len(ids) <= 4
    assert not set(ids) & FOGGY
    assert body["next_cursor"] is None


async def test_a_phrase_is_found_beyond_the_first_sections_holding_its_words(
    search: Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer's half-remembered line is a phrase of common words: it must be found
    # wherever it is, not only among the first sections holding its words (a bound
    # that made such a phrase find 0-1 of its 127 sections at 100,000 documents).
    # The 40 opening sections hold both words, and the phrase.
    monkeypatch.setattr(engine, "CHECKED", 6)
    monkeypatch.setattr(search_postgres, "CHECKED", 6)  # its bound on exclusions
    monkeypatch.setattr(search_sqlite, "CHECKED", 6, raising=False)  # it had one too
    found = await search.search(ANONYMOUS, '"the beacon"', 50, None)
    assert {r["id"] for r in found["results"]} == set(IDS)

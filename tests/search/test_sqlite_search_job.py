"""On SQLite a search is one job on a reader thread: its statements share one read
snapshot, and its Python work (ranking, snippets) stays off the event loop that also
runs the edit path."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from draftroom.auth.principal import ANONYMOUS
from draftroom.search import service
from draftroom.search.sqlite import FTS5Engine
from draftroom.store.sqlite import SQLiteStore
from search.helpers import indexed

IDS = [f"d{i}" for i in range(6)]


@pytest_asyncio.fixture
async def search(tmp_path: Path) -> AsyncIterator[service.Search]:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    docs = [(d, f"Log {i}", f"# Part One\nthe lantern glowed {i}") for i, d in enumerate(IDS)]
    async with indexed(store, docs) as found:
        yield found


async def test_snippets_are_cut_off_the_event_loop(
    search: service.Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    cut = service.snippet

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return cut(*args, **kwargs)

    monkeypatch.setattr(service, "snippet", recorded)
    body = await search.search(ANONYMOUS, "lantern", 20, None)
    assert sorted(r["id"] for r in body["results"]) == IDS
    assert len(threads) == len(IDS)
    assert threading.get_ident() not in threads


async def test_a_document_reindexed_mid_search_stays_in_its_results(
    search: service.Search, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between ranking and reading the ranked sections, the indexer commits a new
    # version of d3 (its section rows replaced). The search read one snapshot, so d3
    # is still on the page, with the text it was ranked by.
    index_file = search.store.index_path  # type: ignore[attr-defined]
    read = FTS5Engine.stored

    async def stored_after_a_reindex(self: FTS5Engine, ranked: Any) -> Any:
        writer = sqlite3.connect(index_file, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE search_sections SET key = key || '-v2' WHERE doc_id = 'd3'")
            writer.execute("COMMIT")
        finally:
            writer.close()
        return await read(self, ranked)

    monkeypatch.setattr(FTS5Engine, "stored", stored_after_a_reindex)
    body = await search.search(ANONYMOUS, "lantern", 20, None)
    assert sorted(r["id"] for r in body["results"]) == IDS
    d3 = next(r for r in body["results"] if r["id"] == "d3")
    assert "the lantern glowed 3" in "".join(part["text"] for part in d3["snippet"])

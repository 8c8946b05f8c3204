"""PostgreSQL searches under load: their own pool, a bound on each statement, no
round trip wasted on releasing a connection, and a query typed on (``rare co``) that
does not make the GIN index collect every word starting with ``co``.

A search is stalled for real: another connection holds ``search_sections`` locked,
so every search statement waits in PostgreSQL's lock manager."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from draftroom.auth.principal import Principal
from draftroom.search import postgres as search_postgres
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore, SearchTimeout
from search.helpers import caught_up, search_server, seed, ydoc_update

ADMIN = Principal("root", "root", True, "session")


@asynccontextmanager
async def locked_sections(url: str) -> AsyncIterator[None]:
    """Every statement reading ``search_sections`` waits until the block ends."""
    con = await asyncpg.connect(url)
    try:
        async with con.transaction():
            await con.execute("LOCK TABLE search_sections IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await con.close()


@pytest_asyncio.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(postgres_url, min_pool=1, max_pool=2)
    opened.configure_search_pool(max_size=2, timeout=0.3)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_released_connection_costs_no_reset_round_trip(
    store: PostgresStore, postgres_url: str
) -> None:
    # asyncpg's default reset on release ("SELECT pg_advisory_unlock_all(); CLOSE
    # ALL; UNLISTEN *; RESET ALL;") is a second round trip for every pooled
    # statement: the backend's last statement would be that, not ours.
    row = await store.sql.fetchrow("SELECT pg_backend_pid() AS pid")
    assert row is not None
    con = await asyncpg.connect(postgres_url)
    try:
        last = await con.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", row["pid"])
    finally:
        await con.close()
    assert last == "SELECT pg_backend_pid() AS pid"


async def test_search_connections_scan_from_the_start_and_stop_at_the_bound(
    store: PostgresStore,
) -> None:
    # A capped sequential scan joining another scan midway found other sections
    # for the same query ("or po ra": 1, then 0 hits at 100,000 documents).
    row = await store.reads.fetchrow(
        "SELECT current_setting('synchronize_seqscans') AS sync,"
        " current_setting('statement_timeout') AS bound"
    )
    assert row == {"sync": "off", "bound": "300ms"}


async def test_a_search_past_its_timeout_is_a_search_timeout(
    store: PostgresStore, postgres_url: str
) -> None:
    search = Search(store, lambda: "n1")
    async with locked_sections(postgres_url):
        started = asyncio.get_running_loop().time()
        with pytest.raises(SearchTimeout) as caught:
            await search.search(ADMIN, "dragon", 20, None)
        waited = asyncio.get_running_loop().time() - started
    assert caught.value.status == 503
    assert caught.value.to_json()["error"] == "search_timeout"
    assert caught.value.headers == {"Retry-After": "1"}
    assert waited < 2  # the bound, not the lock, ended it
    # The connection went back to the pool in working order.
    assert (await search.search(ADMIN, "dragon", 20, None))["results"] == []


async def test_saves_are_not_starved_by_searches_holding_connections(
    store: PostgresStore, postgres_url: str
) -> None:
    # Six searches stall (more than either pool holds) while the edit path saves:
    # with searches on the store's own pool (two connections here), the save waited
    # behind them for the lock.
    await store.create_document("d1", "Notes")
    search = Search(store, lambda: "n1")
    async with locked_sections(postgres_url):
        users = [Principal(f"u{i}", f"u{i}", True, "session") for i in range(6)]
        stalled = [asyncio.create_task(search.search(u, "word", 20, None)) for u in users]
        await asyncio.sleep(0.05)  # they hold (or wait for) search connections now
        seq = await asyncio.wait_for(store.append("d1", ydoc_update("saved")), 0.25)
        assert seq == 1
        outcomes = await asyncio.gather(*stalled, return_exceptions=True)
    assert all(isinstance(o, SearchTimeout) for o in outcomes), outcomes


async def test_http_search_timeout_is_a_503_json_error(tmp_path: Path, postgres_url: str) -> None:
    async with search_server(tmp_path, postgres_url, search_timeout_seconds=0.3) as server:
        await seed(server)
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as http:
            async with locked_sections(postgres_url):
                r = await http.get("/api/search", params={"q": "dragon"})
            assert r.status_code == 503
            assert r.json()["error"] == "search_timeout"
            assert "0.3 s" in r.json()["message"]
            assert r.headers["Retry-After"] == "1"
            after = await http.get("/api/search", params={"q": "dragon "})
            assert after.status_code == 200
            assert {hit["id"] for hit in after.json()["results"]} == {"dragons", "phrase"}


async def test_whole_words_drive_the_index_when_the_last_word_is_typed_on(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "zephyrine co": the GIN index is scanned for the rare whole word alone and the
    # prefix is checked on the rows it finds; before, the index collected every
    # section of every word starting with "co" (most of them here) first.
    docs = {f"d{i:02}": f"# Part\ncould come copper cold {i}" for i in range(40)}
    docs["d07"] += " zephyrine"
    docs["d21"] = "# Part\nzephyrine alone"  # the word without the prefix: not found
    for doc_id, text in docs.items():
        await store.create_document(doc_id, f"Doc {doc_id}")
        await store.append(doc_id, ydoc_update(text))
    await store.flush()
    search = Search(store, lambda: "n1")
    search.flatten.start()
    try:
        assert await search.index_many(sorted(docs)) == len(docs)
    finally:
        await search.stop()
    await store.sql.execute("ANALYZE search_sections")
    statements: list[tuple[str, tuple[Any, ...]]] = []
    reads = search.engine.reads
    fetch = reads.fetch

    async def recorded(query: str, *args: Any) -> list[dict[str, Any]]:
        statements.append((query, args))
        return await fetch(query, *args)

    monkeypatch.setattr(reads, "fetch", recorded)
    found = await search.search(ADMIN, "zephyrine co", 20, None)
    assert [hit["id"] for hit in found["results"]] == ["d07"]
    query, args = next(s for s in statements if "ts_rank(s.terms" in s[0])
    explained = await store.sql.fetchrow("EXPLAIN (FORMAT JSON) " + query, *args)
    assert explained is not None
    plan = explained["QUERY PLAN"]
    # An index can serve a `terms @@ query` operator (here the planner keeps it as a
    # filter of 41 documents); the prefix is only in ts_match_vq(terms, query), a
    # function no index serves.
    indexable = re.findall(r"terms @@ ('(?:[^']|'')*')::tsquery", plan)
    assert indexable == ["'''zephyrine'''"], plan
    # And the same documents as the index scanned for everything, when it is not rare.
    monkeypatch.setattr(search_postgres, "DRIVEN", 0)
    assert (await search.search(ADMIN, "zephyrine co", 20, None))["results"] == found["results"]

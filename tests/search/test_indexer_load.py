"""The indexer under load: it writes a pass's documents in groups, one transaction
each; one document the engine rejects does not keep the rest of its group out of the
index; and a slow catch-up sweep (a scan of every document) runs less often."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from draftroom.search import service
from draftroom.search.engine import Engine
from draftroom.search.service import Search
from draftroom.search.sqlite import FTS5Engine
from draftroom.search.text import IndexEntry
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore
from search.helpers import ydoc_update

DOCS = 40


async def _seeded(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    for i in range(DOCS):
        await store.create_document(f"d{i:02d}", f"Title {i}")
        await store.append(f"d{i:02d}", ydoc_update(f"# Part\nword{i} and a shared line"))
    await store.flush()
    return store


async def test_a_pass_commits_once_per_group_not_once_per_document(tmp_path: Path) -> None:
    # Each commit on SQLite is an fsync (and a wait for the index's write lock):
    # a pass over 40 busy documents used to make 40+ of them (120 statements).
    store = await _seeded(tmp_path)
    commits: list[str] = []

    def trace(statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            commits.append(statement)

    store.index_db.set_trace_callback(trace)  # idle now: nothing else is on its thread
    search = Search(store, lambda: "n1", debounce=0.01, sweep_seconds=0.05)
    await search.start()
    try:
        todo = [f"d{i:02d}" for i in range(DOCS)]
        for doc_id in todo:
            search.note(doc_id)
        for _ in range(200):
            if not await search.engine.stale(float("inf"), 1):
                break
            await asyncio.sleep(0.05)
        assert not await search.engine.stale(float("inf"), 1), "the index never caught up"
    finally:
        await search.stop()
        store.index_db.set_trace_callback(None)
    groups = -(-DOCS // service.WRITE_GROUP)
    assert search.writes == DOCS
    assert len(commits) <= 2 * groups, commits  # a pass may split a group in two
    await store.close()


class _Rejects(FTS5Engine):
    """The real engine, except that it refuses one document."""

    bad = "d07"

    async def write(
        self, doc_id: str, node: str, version: int, entry: IndexEntry, now: float
    ) -> bool:
        if doc_id == self.bad:
            raise sqlite3.IntegrityError("refused")
        return await super().write(doc_id, node, version, entry, now)


async def test_one_rejected_document_does_not_keep_its_group_out(tmp_path: Path) -> None:
    store = await _seeded(tmp_path)
    search = Search(store, lambda: "n1")
    search.engine = _Rejects(store.index_sql)
    engine: Engine = search.engine
    search.flatten.start()
    try:
        written = await search.index_many([f"d{i:02d}" for i in range(DOCS)])
    finally:
        await search.stop()
    assert written == DOCS - 1
    stale = await engine.stale(float("inf"), DOCS)
    assert stale == [_Rejects.bad]  # left for the sweep to retry
    await store.close()


@pytest.fixture(autouse=True)
def _small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two groups and a remainder out of 40 documents, whatever the default.
    monkeypatch.setattr(service, "WRITE_GROUP", 16, raising=False)


class _SlowSweep(FTS5Engine):
    """The real engine, with a sweep as slow as a scan of a large store."""

    sweeps = 0

    async def stale(self, now: float, limit: int) -> list[str]:
        type(self).sweeps += 1
        await asyncio.sleep(0.1)
        return await super().stale(now, limit)


async def test_a_slow_sweep_takes_a_bounded_share_of_the_time(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "data")  # nothing to index: the sweep is all it does
    await store.open()
    search = Search(store, lambda: "n1", sweep_seconds=0.01)
    search.engine = _SlowSweep(store.index_sql)
    await search.start()
    try:
        await asyncio.sleep(1.5)
    finally:
        await search.stop()
        await store.close()
    # Back to back, 0.1 s each, it would run ~15 times; at most 5% of the time, once
    # every 2 s.
    assert 1 <= _SlowSweep.sweeps <= 2, _SlowSweep.sweeps


async def test_postgres_claims_and_writes_of_a_group_share_transactions(postgres_url: str) -> None:
    # Every write transaction takes a transaction id, and each commits (an fsync): a
    # pass over 40 documents took one per claim and three per entry, 160 in all.
    # Transaction ids are server-wide, so autovacuum or another test's leftover work may
    # take a few during a pass: up to three passes over fresh documents, the best counts.
    store = PostgresStore(postgres_url)
    await store.open()
    groups = -(-DOCS // service.WRITE_GROUP)
    bound = 2 * groups + 1  # a claim and a write transaction per group, and txid_current()
    taken: list[int] = []
    try:
        for attempt in range(3):
            ids = [f"a{attempt}d{i:02d}" for i in range(DOCS)]
            for i, doc_id in enumerate(ids):
                await store.create_document(doc_id, f"Title {i}")
                await store.append(doc_id, ydoc_update(f"# Part\nword{i} and a shared line"))
            await store.flush()
            search = Search(store, lambda: "n1")
            search.flatten.start()
            before = await store.sql.fetchrow("SELECT txid_current() AS x")
            assert before is not None
            written = await search.index_many(ids)
            after = await store.sql.fetchrow("SELECT txid_current() AS x")
            assert after is not None
            await search.stop()
            assert written == DOCS
            assert not await search.engine.stale(float("inf"), 1)
            taken.append(after["x"] - before["x"])
            if taken[-1] <= bound:
                break
        assert min(taken) <= bound, taken
    finally:
        await store.close()

"""SQLite keeps the search index in a file of its own (``search.db``): an index write
never delays a save; a node killed mid-indexing loses nothing the sweep does not
redo; an older store's index moves there intact; a deleted search.db is rebuilt."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import draftroom
from draftroom.auth.principal import ANONYMOUS
from draftroom.search.service import Search
from draftroom.search.sqlite import FTS5Engine
from draftroom.search.text import entry_from_state
from draftroom.store.migrations import load_migrations
from draftroom.store.sql import SQLiteInTransaction, run_now
from draftroom.store.sqlite import SQLiteStore
from search.helpers import ydoc_update

ROOT = Path(draftroom.__file__).resolve().parent.parent
DOCS = [
    (f"d{i}", f"Title {i}", f"# Part\n## Chapter {i}\nthe word{i} lighthouse") for i in range(8)
]


async def _seeded(data: Path) -> SQLiteStore:
    store = SQLiteStore(data)
    await store.open()
    for doc_id, title, text in DOCS:
        await store.create_document(doc_id, title)
        await store.append(doc_id, ydoc_update(text))
    await store.flush()
    return store


async def _found(search: Search, word: str) -> set[str]:
    results = (await search.search(ANONYMOUS, word, 50, None))["results"]
    return {r["id"] for r in results}


def _check_fts(db: sqlite3.Connection) -> None:
    for table in ("search_section_fts", "search_titles"):
        db.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")


async def test_an_index_write_does_not_delay_a_save(tmp_path: Path) -> None:
    store = await _seeded(tmp_path / "data")
    search = Search(store, lambda: "n1")
    held = threading.Event()

    def long_index_transaction(db: sqlite3.Connection) -> None:
        # An index group that takes its time (a large document, a slow disk): its
        # write lock and its thread are busy for 3 s.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("UPDATE search_documents SET indexed_at = indexed_at")
            held.set()
            time.sleep(3.0)
        finally:
            db.execute("COMMIT")

    try:
        writing = asyncio.create_task(search.engine.sql.on_thread(long_index_transaction))
        assert await asyncio.to_thread(held.wait, 5.0), "the index transaction never began"
        began = time.monotonic()
        seq = await asyncio.wait_for(store.append("d0", ydoc_update("more")), 10.0)
        acked = time.monotonic() - began
        assert acked < 1.0, f"the save waited {acked:.2f} s for the index transaction"
        assert not writing.done(), "the index transaction ended first: nothing was tested"
        assert seq == 2
        await writing
    finally:
        await search.stop()
        await store.close()


async def test_indexing_makes_no_call_on_the_writer_thread(tmp_path: Path) -> None:
    # Its reads of the store too (the document, its log) run on the index's thread:
    # on the writer thread they queued in front of the edit path's commits.
    store = await _seeded(tmp_path / "data")
    search = Search(store, lambda: "n1")
    search.flatten.start()
    busy = threading.Event()

    def long_commit(db: sqlite3.Connection) -> None:
        busy.set()
        time.sleep(3.0)

    try:
        stalled = asyncio.create_task(store.sql.on_thread(long_commit))
        assert await asyncio.to_thread(busy.wait, 5.0)
        began = time.monotonic()
        written = await asyncio.wait_for(search.index_many([d for d, _, _ in DOCS]), 10.0)
        took = time.monotonic() - began
        assert written == len(DOCS)
        assert took < 1.5, f"indexing waited {took:.2f} s for the writer thread"
        assert not stalled.done(), "the writer thread was free first: nothing was tested"
        assert await _found(search, "lighthouse") == {d for d, _, _ in DOCS}
        await stalled
    finally:
        await search.stop()
        await store.close()


_CHILD = """
import asyncio, os, signal, sys
from draftroom.search.service import Search
from draftroom.search.sqlite import FTS5Engine
from draftroom.store.sqlite import SQLiteStore

written = FTS5Engine.write_sections

async def killed_between(self, doc_id, entry, insert, row):
    await written(self, doc_id, entry, insert, row)
    if doc_id == "d5":  # its sections are written, its version not yet
        os.kill(os.getpid(), signal.SIGKILL)

FTS5Engine.write_sections = killed_between

async def main():
    store = SQLiteStore(sys.argv[1])
    await store.open()
    search = Search(store, lambda: "doomed", workers=0)
    search.flatten.start()
    assert await search.index_many(["d0", "d1", "d2", "d3"]) == 4
    await search.index("d5")
    print("survived")

asyncio.run(main())
"""


async def test_a_node_killed_mid_indexing_leaves_nothing_half_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await (await _seeded(data)).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stdout + child.stderr

    store = SQLiteStore(data)
    await store.open()
    search = Search(store, lambda: "n2", debounce=0.01, sweep_seconds=0.05)
    try:
        sql = search.engine.sql
        rows = await sql.fetch("SELECT doc_id, indexed_version FROM search_documents")
        assert {r["doc_id"]: r["indexed_version"] for r in rows} == {f"d{i}": 1 for i in range(4)}
        # The killed document's sections went with its version: all or nothing.
        orphan = await sql.fetch("SELECT key FROM search_sections WHERE doc_id = 'd5'")
        assert orphan == []
        assert await _found(search, "word5") == set()
        await store.index_sql.on_thread(_check_fts)
        # The restarted node catches up by itself, and nothing is missing.
        await search.start()
        for _ in range(200):
            if not await search.engine.stale(float("inf"), 1):
                break
            await asyncio.sleep(0.05)
        for doc_id, _, text in DOCS:
            word = text.rsplit(" ", 2)[-2]
            assert await _found(search, word) == {doc_id}, word
        assert await _found(search, "lighthouse") == {d for d, _, _ in DOCS}
        await store.index_sql.on_thread(_check_fts)
    finally:
        await search.stop()
        await store.close()


def _old_store(data: Path) -> None:
    """A store as made before search.db existed: the index in draftroom.sqlite3, as
    the engine wrote it there (migrations 001-008, then documents and their entries)."""
    data.mkdir(parents=True)
    db = sqlite3.connect(data / "draftroom.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in load_migrations("sqlite"):
        if migration.version <= 8:
            db.executescript(f"BEGIN;\n{migration.sql}\n;COMMIT;")
            db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, '')",
                (migration.version, migration.name),
            )
    engine = FTS5Engine(SQLiteInTransaction(db))
    now = "2026-01-01T00:00:00+00:00"
    for doc_id, title, text in DOCS[:3]:
        update = ydoc_update(text)
        db.execute(
            "INSERT INTO documents (id, title, created_at, updated_at, seq, size_bytes)"
            " VALUES (?, ?, ?, ?, 1, ?)",
            (doc_id, title, now, now, len(update)),
        )
        db.execute("INSERT INTO updates (doc_id, seq, data) VALUES (?, 1, ?)", (doc_id, update))
        entry = entry_from_state(title, None, [update], frozenset())
        db.execute("BEGIN")
        assert run_now(engine.write(doc_id, "old", 1, entry, time.time()))
        db.execute("COMMIT")
    db.close()


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


async def test_an_older_store_s_index_moves_into_search_db(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    _old_store(data)
    assert "search_sections" in _tables(data / "draftroom.sqlite3")
    caplog.set_level(logging.WARNING)
    store = SQLiteStore(data)
    await store.open()
    search = Search(store, lambda: "n1", debounce=0.01, sweep_seconds=0.05)
    try:
        assert "moved the index of 3 document(s)" in caplog.text
        assert not {t for t in _tables(data / "draftroom.sqlite3") if t.startswith("search_")}
        assert "search_section_fts" in _tables(data / "search.db")
        # Moved as it was: found without re-indexing, and nothing is stale.
        assert await search.engine.stale(float("inf"), 10) == []
        assert await _found(search, "lighthouse") == {"d0", "d1", "d2"}
        assert await _found(search, "title") == {"d0", "d1", "d2"}
        # The moved rows and their full-text entries stay in step on later writes.
        await store.append("d1", ydoc_update("a harbour"))
        await store.flush()
        assert await search.index("d1")
        assert await _found(search, "harbour") == {"d1"}
        await store.index_sql.on_thread(_check_fts)
    finally:
        await search.stop()
        await store.close()
    caplog.clear()
    store = SQLiteStore(data)  # opening again moves nothing and loses nothing
    await store.open()
    search = Search(store, lambda: "n1")
    try:
        assert "moved" not in caplog.text
        assert await _found(search, "lighthouse") == {"d0", "d1", "d2"}
    finally:
        await store.close()


async def test_a_deleted_search_db_is_rebuilt_by_the_catch_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    store = await _seeded(data)
    search = Search(store, lambda: "n1")
    search.flatten.start()
    assert await search.index_many([d for d, _, _ in DOCS]) == len(DOCS)
    await search.stop()
    await store.close()
    for suffix in ("", "-wal", "-shm"):
        (data / f"search.db{suffix}").unlink(missing_ok=True)
    caplog.set_level(logging.WARNING)
    store = SQLiteStore(data)
    await store.open()
    search = Search(store, lambda: "n1", debounce=0.01, sweep_seconds=0.05)
    try:
        assert f"rebuilds the index of {len(DOCS)} document(s)" in caplog.text
        assert await _found(search, "lighthouse") == set()
        await search.start()
        for _ in range(200):
            if not await search.engine.stale(float("inf"), 1):
                break
            await asyncio.sleep(0.05)
        assert await _found(search, "lighthouse") == {d for d, _, _ in DOCS}
    finally:
        await search.stop()
        await store.close()

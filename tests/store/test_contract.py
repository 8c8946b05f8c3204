"""One contract, run against both stores: SQLite (embedded) and real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from draftroom.document.load import build_doc
from draftroom.store.base import Store
from draftroom.store.postgres import PostgresStore
from draftroom.store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "postgres", "pgbouncer"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path)
    elif request.param == "pgbouncer":  # transaction mode: no session state may be relied on
        s = PostgresStore(request.getfixturevalue("pgbouncer_url"), pooler="pgbouncer")
    else:
        s = PostgresStore(request.getfixturevalue("postgres_url"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def typing_updates(n: int, text: str = "x") -> list[bytes]:
    """n keystroke updates as a Yjs client would send them."""
    doc = Doc()
    body = doc.get("text", type=Text)
    updates = []
    for _ in range(n):
        before = doc.get_state()
        body += text
        updates.append(doc.get_update(before))
    return updates


def text_of(state_snapshot: bytes | None, updates: list[bytes]) -> str:
    return str(build_doc(state_snapshot, updates).get("text", type=Text))


async def test_appends_get_dense_sequence_numbers_and_group_commit(store: Store) -> None:
    updates = typing_updates(300)
    seqs = await asyncio.gather(*(store.append("doc", u) for u in updates))
    assert seqs == list(range(1, 301))
    stats = store.stats()
    assert stats.appends == 300 and stats.pending_appends == 0
    assert stats.commit_batches < 30, "appends made together must share commits"
    state = await store.load("doc")
    assert state.seq == 300
    assert text_of(state.snapshot, state.updates) == "x" * 300


async def test_stats_count_commits_and_show_the_pool(store: Store) -> None:
    await asyncio.gather(*(store.append("stats", u) for u in typing_updates(5)))
    await store.append("stats", typing_updates(1, "z")[0])
    stats = store.stats()
    assert stats.appends == 6 and stats.pending_appends == 0 and stats.commit_failures == 0
    assert 2 <= stats.commit_batches <= 6 and stats.last_batch_size == 1
    # Telemetry's connection-pool gauge reads these; SQLite has no pool.
    if store.dialect == "postgres":
        assert stats.pool_size is not None and stats.pool_idle is not None
        assert 1 <= stats.pool_size and 0 <= stats.pool_idle <= stats.pool_size
        # The searches' pool opens empty and shows what a search holds.
        assert stats.search_pool_size is not None and stats.search_pool_idle is not None
        assert isinstance(store, PostgresStore)
        assert await store.reads.fetchrow("SELECT 1 AS one") is not None
        after = store.stats()
        assert after.search_pool_size == after.search_pool_idle == 1
    else:
        assert stats.pool_size is None and stats.search_pool_size is None


async def test_sequences_are_per_document(store: Store) -> None:
    a = typing_updates(3)
    b = typing_updates(2, "y")
    seqs = await asyncio.gather(
        store.append("a", a[0]),
        store.append("b", b[0]),
        store.append("a", a[1]),
        store.append("b", b[1]),
        store.append("a", a[2]),
    )
    assert seqs == [1, 1, 2, 2, 3]
    assert [s for s, _ in await store.updates_since("a", 1)] == [2, 3]
    meta = await store.get_document("b")
    assert meta is not None and meta.version == 2 and meta.size_bytes == sum(map(len, b))


async def test_load_of_unknown_document_is_empty(store: Store) -> None:
    state = await store.load("nothing-here")
    assert state.snapshot is None and state.updates == [] and state.seq == 0


async def test_compaction_folds_log_into_snapshot(store: Store) -> None:
    updates = typing_updates(200)
    await asyncio.gather(*(store.append("doc", u) for u in updates))
    before = await store.get_document("doc")
    result = await store.compact("doc")
    assert result is not None and result.snapshot_seq == 200
    state = await store.load("doc")
    assert state.snapshot is not None and state.updates == [] and state.snapshot_seq == 200
    assert text_of(state.snapshot, state.updates) == "x" * 200
    after = await store.get_document("doc")
    assert after is not None and before is not None
    assert after.size_bytes == len(state.snapshot) < before.size_bytes
    assert after.version == 200
    assert await store.compact("doc") is None, "nothing left to compact"


async def test_update_arriving_during_compaction_is_not_lost(store: Store) -> None:
    updates = typing_updates(60)
    await asyncio.gather(*(store.append("doc", u) for u in updates[:50]))
    late: list[int] = []

    async def append_while_compacting(doc_id: str) -> None:
        # Compaction has read seq 1..50; these commit before it writes.
        late.extend(await asyncio.gather(*(store.append(doc_id, u) for u in updates[50:])))

    store._before_compaction_write = append_while_compacting  # type: ignore[attr-defined]
    result = await store.compact("doc")
    assert result is not None and result.snapshot_seq == 50
    assert late == list(range(51, 61))
    state = await store.load("doc")
    assert state.snapshot_seq == 50 and state.seq == 60 and len(state.updates) == 10
    assert text_of(state.snapshot, state.updates) == "x" * 60
    meta = await store.get_document("doc")
    assert meta is not None
    assert meta.size_bytes == len(state.snapshot or b"") + sum(map(len, state.updates))


async def test_load_reads_snapshot_plus_tail(store: Store) -> None:
    updates = typing_updates(30)
    for u in updates[:20]:
        await store.append("doc", u)
    await store.compact("doc")
    for u in updates[20:]:
        await store.append("doc", u)
    state = await store.load("doc")
    assert (state.snapshot_seq, state.seq, len(state.updates)) == (20, 30, 10)
    assert text_of(state.snapshot, state.updates) == "x" * 30


async def test_metadata_crud(store: Store) -> None:
    created = await store.create_document("novel/ch-1", "Chapter One")
    assert created is not None and created.title == "Chapter One" and created.version == 0
    assert await store.create_document("novel/ch-1", "again") is None
    renamed = await store.update_document("novel/ch-1", "Chapter 1")
    assert renamed is not None and renamed.title == "Chapter 1"
    assert renamed.updated_at >= created.updated_at
    await store.append("novel/ch-1", typing_updates(1)[0])
    listed = await store.list_documents(10, 0)
    assert [d.id for d in listed] == ["novel/ch-1"] and listed[0].version == 1
    assert await store.update_document("missing", "x") is None
    assert await store.delete_document("novel/ch-1") is True
    assert await store.delete_document("novel/ch-1") is False
    assert await store.get_document("novel/ch-1") is None
    assert (await store.load("novel/ch-1")).updates == []


async def test_flush_waits_for_pending_appends(store: Store) -> None:
    futures = [store.append("doc", u) for u in typing_updates(50)]
    await store.flush()
    assert all(f.done() for f in futures)


async def test_reopen_keeps_data_and_migrations_are_idempotent(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    await asyncio.gather(*(store.append("doc", u) for u in typing_updates(5)))
    again: Store = (
        SQLiteStore(tmp_path)
        if isinstance(store, SQLiteStore)
        else PostgresStore(store._dsn, pooler=store.pooler)  # type: ignore[attr-defined]
    )
    await again.open()
    try:
        assert (await again.load("doc")).seq == 5
    finally:
        await again.close()


async def test_sql_runner_speaks_one_dialect_on_both(store: Store) -> None:
    sql = store.sql
    await sql.execute("CREATE TABLE kv (k text PRIMARY KEY, v double precision, b bytea)")
    await sql.executemany(
        "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)", [("a", 1.5, b"\x00"), ("b", 2.0, b"\xff")]
    )
    changed = await sql.execute(
        "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)"
        " ON CONFLICT (k) DO UPDATE SET v = kv.v + EXCLUDED.v",
        "a",
        1.0,
        b"",
    )
    assert changed == 1
    assert await sql.fetch("SELECT k, v, b FROM kv ORDER BY k") == [
        {"k": "a", "v": 2.5, "b": b"\x00"},
        {"k": "b", "v": 2.0, "b": b"\xff"},
    ]
    assert await sql.fetchrow("SELECT v FROM kv WHERE k = $1", "zz") is None
    assert await sql.execute("DELETE FROM kv WHERE v > $1", 2.1) == 1


async def test_one_compactor_per_document_across_nodes(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    try:
        await asyncio.gather(*(first.append("doc", u) for u in typing_updates(40)))
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold(doc_id: str) -> None:
            holding.set()
            await release.wait()

        first._before_compaction_write = hold  # type: ignore[method-assign]
        running = asyncio.create_task(first.compact("doc"))
        await holding.wait()
        # Another node meanwhile appends (not blocked) and tries to compact (skips).
        assert await second.append("doc", typing_updates(1, "z")[0]) == 41
        assert await second.compact("doc") is None
        release.set()
        result = await running
        assert result is not None and result.snapshot_seq == 40
        state = await second.load("doc")
        assert (state.snapshot_seq, state.seq) == (40, 41)
        assert sorted(text_of(state.snapshot, state.updates)) == sorted("x" * 40 + "z")
    finally:
        await first.close()
        await second.close()


async def test_deleted_ids_stay_deleted(store: Store) -> None:
    assert await store.create_document("gone", "Gone") is not None
    await store.append("gone", typing_updates(1)[0])
    assert not await store.is_deleted("gone")
    assert await store.delete_document("gone")
    assert await store.is_deleted("gone")
    assert await store.get_document("gone") is None
    # Neither a second create nor a second delete brings the id back.
    assert await store.create_document("gone", "Again") is None
    assert not await store.delete_document("gone")
    assert await store.is_deleted("gone")
    assert await store.get_document("gone") is None
    assert not await store.is_deleted("never-existed")
    assert await store.create_document("never-existed", "") is not None

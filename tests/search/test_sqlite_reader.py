"""On SQLite a search runs on one of the store's read-only connections, each on its
own thread: a slow search neither waits for nor holds up the edit path's group
commits, nor the other searches, and it still sees everything committed before it
began."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from draftroom.auth.principal import ANONYMOUS, Principal
from draftroom.errors import RateLimited
from draftroom.search.service import Search
from draftroom.store.base import StoreError
from draftroom.store.sqlite import SQLiteStore
from search.helpers import ydoc_update


async def _indexed(tmp_path: Path) -> tuple[SQLiteStore, Search]:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    for i in range(3):
        await store.create_document(f"d{i}", f"Title {i}")
        await store.append(f"d{i}", ydoc_update(f"# Part\nlighthouse number{i}"))
    await store.flush()
    search = Search(store, lambda: "n1")
    search.flatten.start()
    assert await search.index_many(["d0", "d1", "d2"]) == 3
    return store, search


@contextmanager
def _stalled(store: SQLiteStore, searches: int) -> Iterator[threading.Event]:
    """The first ``searches`` searches to run a statement stay inside it until the
    block ends; the event is set once that many are stalled."""
    entered = threading.Event()
    release = threading.Event()
    stalled: set[int] = set()
    lock = threading.Lock()

    def stall() -> int:
        # Called every few hundred VM steps of a statement on a reader connection.
        with lock:
            if len(stalled) < searches:
                stalled.add(threading.get_ident())
            if len(stalled) == searches:
                entered.set()
            held = threading.get_ident() in stalled
        if held:
            release.wait(10.0)
        return 0

    for db in store.reader_dbs:
        db.set_progress_handler(stall, 100)
    try:
        yield entered
    finally:
        # The handlers stay: clearing one waits for its connection's statement while
        # holding the GIL, which the released statement needs to return.
        release.set()


def _ids(found: dict[str, object]) -> set[str]:
    results = found["results"]
    assert isinstance(results, list)
    return {r["id"] for r in results}


async def test_a_slow_search_does_not_hold_up_a_commit(tmp_path: Path) -> None:
    store, search = await _indexed(tmp_path)
    with _stalled(store, 1) as entered:
        running = asyncio.create_task(search.search(ANONYMOUS, "lighthouse", 10, None))
        assert await asyncio.to_thread(entered.wait, 5.0), "the search never ran a statement"
        seq = await asyncio.wait_for(store.append("d0", ydoc_update("more text")), 3.0)
        await asyncio.wait_for(store.flush(), 3.0)
        assert seq > 1
        assert not running.done(), "the search finished before the commit: nothing was tested"
    assert _ids(await running) == {"d0", "d1", "d2"}
    await search.stop()
    await store.close()


async def test_a_slow_search_does_not_hold_up_other_searches(tmp_path: Path) -> None:
    store, search = await _indexed(tmp_path)
    with _stalled(store, 1) as entered:
        slow = asyncio.create_task(search.search(ANONYMOUS, "lighthouse", 10, None))
        assert await asyncio.to_thread(entered.wait, 5.0), "the search never ran a statement"
        quick = await asyncio.wait_for(search.search(ANONYMOUS, "number1", 10, None), 3.0)
        assert _ids(quick) == {"d1"}
        assert not slow.done(), "the slow search finished first: nothing was tested"
    assert _ids(await slow) == {"d0", "d1", "d2"}
    await search.stop()
    await store.close()


async def test_one_user_cannot_hold_every_search_connection(tmp_path: Path) -> None:
    store, search = await _indexed(tmp_path)
    ann = Principal("ann", "ann", True, "session")
    bob = Principal("bob", "bob", True, "session")
    with _stalled(store, 2) as entered:
        hers = [asyncio.create_task(search.search(ann, "lighthouse", 10, None)) for _ in range(2)]
        assert await asyncio.to_thread(entered.wait, 5.0), "her searches never ran"
        with pytest.raises(RateLimited):
            await asyncio.wait_for(search.search(ann, "number1", 10, None), 3.0)
        # Someone else's search still gets a connection and answers at once.
        quick = await asyncio.wait_for(search.search(bob, "number1", 10, None), 3.0)
        assert _ids(quick) == {"d1"}
    assert [_ids(await t) for t in hers] == [{"d0", "d1", "d2"}] * 2
    # Once hers are done she may search again.
    assert _ids(await search.search(ann, "number1", 10, None)) == {"d1"}
    await search.stop()
    await store.close()


async def test_the_reader_sees_what_was_committed_before_it_searched(tmp_path: Path) -> None:
    store, search = await _indexed(tmp_path)
    assert _ids(await search.search(ANONYMOUS, "harbour", 10, None)) == set()
    await store.create_document("d9", "Harbour notes")
    await store.append("d9", ydoc_update("# Part\nthe harbour wall"))
    await store.flush()
    assert await search.index_many(["d9"]) == 1
    assert _ids(await search.search(ANONYMOUS, "harbour", 10, None)) == {"d9"}
    await store.delete_document("d1")
    assert _ids(await search.search(ANONYMOUS, "lighthouse", 10, None)) == {"d0", "d2"}
    await search.stop()
    await store.close()


async def test_the_reader_cannot_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    await store.create_document("d0", "Kept")
    try:
        with pytest.raises(StoreError, match="readonly database"):
            await store.reads.execute("DELETE FROM documents")
        assert await store.get_document("d0") is not None
    finally:
        await store.close()

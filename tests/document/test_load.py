"""``load_doc``: the stored document, built off the event loop once it is large."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from draftroom.document import load
from draftroom.document.load import LOAD_IN_THREAD_BYTES, LoadedDoc, load_doc
from draftroom.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def typed(doc: Doc, text: str) -> bytes:
    before = doc.get_state()
    doc.get("text", type=Text).insert(len(str(doc.get("text", type=Text))), text)
    return doc.get_update(before)


async def test_small_and_large_documents(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    built_on: list[str] = []
    real = load.build_doc

    def recording(snapshot: bytes | None, updates: list[bytes], depths: object = None) -> Doc:
        built_on.append(threading.current_thread().name)
        return real(snapshot, updates, depths)  # type: ignore[arg-type]

    monkeypatch.setattr(load, "build_doc", recording)
    writer: Doc = Doc()
    for word in ("one ", "two"):
        await store.append("small", typed(writer, word))
    loaded = await load_doc(store, "small")
    assert isinstance(loaded, LoadedDoc)
    assert str(loaded.doc.get("text", type=Text)) == "one two"
    assert (loaded.version, loaded.snapshot_seq) == (2, 0)
    assert loaded.size == (await store.load("small")).size_bytes < LOAD_IN_THREAD_BYTES

    big = "x" * (LOAD_IN_THREAD_BYTES + 1)
    await store.append("large", typed(Doc(), big))
    loaded = await load_doc(store, "large")
    assert str(loaded.doc.get("text", type=Text)) == big
    assert loaded.size > LOAD_IN_THREAD_BYTES
    main = threading.main_thread().name
    assert built_on[0] == main and built_on[1] != main


async def test_a_missing_document_loads_empty(store: SQLiteStore) -> None:
    loaded = await load_doc(store, "never-written")
    assert (loaded.version, loaded.size) == (0, 0)
    assert str(loaded.doc.get("text", type=Text)) == ""

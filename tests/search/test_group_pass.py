"""A pass's group path on SQLite (metas, claims and new updates read in one job, kept
Docs advanced in one job) indexes what a rebuild from the store would: documents
advanced from their kept Doc, one whose log was compacted under it (rebuilt), one
deleted (removed), one unchanged (left alone), all in one group."""

from __future__ import annotations

from pathlib import Path

from pycrdt import Doc, Text

from draftroom.search import service
from draftroom.search.service import Search
from draftroom.search.text import entry_from_state
from draftroom.store.sqlite import SQLiteStore


async def _index_keys(store: SQLiteStore, doc_id: str) -> set[str]:
    rows = await store.index_sql.fetch("SELECT key FROM search_sections WHERE doc_id = $1", doc_id)
    return {r["key"] for r in rows}


async def test_one_group_advances_rebuilds_removes_and_skips(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "data")
    await store.open()
    ids = ["a", "b", "c", "d"]
    assert len(ids) <= service.WRITE_GROUP  # one group
    docs: dict[str, tuple[Doc, Text]] = {}
    for doc_id in ids:
        await store.create_document(doc_id, f"Title {doc_id}")
        doc: Doc = Doc()
        text = doc.get("text", type=Text)
        text.insert(0, f"# Part\nfirst words of {doc_id}\n## Chapter\nmore")
        await store.append(doc_id, doc.get_update())
        docs[doc_id] = (doc, text)
    await store.flush()
    search = Search(store, lambda: "n1", indexing=False, workers=0)  # as served
    try:
        assert await search.index_many(ids) == 4
        assert search.flatten.builds == 4
        for doc_id in ("a", "b"):  # typed into: advanced from the kept Doc
            doc, text = docs[doc_id]
            before = doc.get_state()
            text.insert(len(text), f" dragonfly{doc_id}")
            await store.append(doc_id, doc.get_update(before))
        doc, text = docs["c"]  # typed into, then compacted: the kept Doc is behind
        before = doc.get_state()
        text.insert(0, "prologue ")
        await store.append("c", doc.get_update(before))
        before = doc.get_state()
        text.insert(0, "again ")
        await store.append("c", doc.get_update(before))
        await store.flush()
        assert await store.compact("c") is not None
        await store.delete_document("d")
        await store.flush()

        assert await search.index_many(ids) == 3
        assert search.flatten.advances == 2 and search.flatten.builds == 5
        for doc_id in ("a", "b", "c"):
            state = await store.load(doc_id)
            rebuilt = entry_from_state(f"Title {doc_id}", state.snapshot, state.updates)
            assert await _index_keys(store, doc_id) == set(rebuilt.keys())
        assert await _index_keys(store, "d") == set()
        assert await search.index_many(["a"]) == 0  # nothing new: not written again
    finally:
        await search.stop()
        await store.close()

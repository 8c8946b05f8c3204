"""Shared by the search tests: a server per store, a corpus, and waiting for the index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.search.service import Search

FAST = {"search_debounce_seconds": 0.05, "search_sweep_seconds": 0.2}

# A small shared corpus: every query test runs against it on both stores.
CORPUS: list[tuple[str, str, str]] = [
    (
        "dragons",
        "The Dragon Book",
        "# Part I\n## Chapter 1\nA red dragon slept under the mountain.\n"
        "## Chapter 2\nThe knight rode north to find the dragon's hoard.",
    ),
    (
        "resume",
        "Café notes",
        "# Draft\nHer résumé lay on the table of the café, beside a naïve poem.",
    ),
    (
        "orcs",
        "War of the North",
        "# Part II\n## Chapter 7\nThe orc army marched. The knight waited.",
    ),
    ("cjk", "北京日记", "# 第一章\n我爱北京天安门。東京は日本の首都です。"),
    ("emoji", "Symbols", "The flag 🐉 flew over the keep, and the fire 🔥 burned."),
    ("plain", "Knight errant", "Nothing about beasts here, only a quiet knight and a lord."),
    ("phrase", "Colours", "The dragon was red. A red fox ran past the green dragon."),
]


def ydoc_update(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get("text", type=Text).insert(0, text)
    return doc.get_update()


async def seed(server: RunningServer, docs: list[tuple[str, str, str]] = CORPUS) -> None:
    """Store documents directly (no room is open: the sweep must find them)."""
    store = server.hub.store
    for doc_id, title, text in docs:
        await store.create_document(doc_id, title)
        if text:
            await store.append(doc_id, ydoc_update(text))
    await store.flush()


async def caught_up(server: RunningServer, within: float = 10.0) -> None:
    engine = server.hub.feature(Search).engine

    async def nothing_stale() -> bool:
        return not await engine.stale(float("inf"), 1)

    await eventually(nothing_stale, within=within)


@asynccontextmanager
async def search_server(
    tmp_path: Path, database_url: str | None = None, **overrides: Any
) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path, database_url, **{**FAST, **overrides})) as s:
        yield s


@asynccontextmanager
async def indexed(store: Any, docs: list[tuple[str, str, str]]) -> AsyncIterator[Search]:
    """``store`` (open) with ``docs`` (id, title, text) written and indexed now, in this
    process, as a node that has caught up would hold them (its indexing task is not
    started); the store is closed on the way out."""
    try:
        for doc_id, title, text in docs:
            await store.create_document(doc_id, title)
            await store.append(doc_id, ydoc_update(text))
        await store.flush()
        found = Search(store, lambda: "n1")
        try:
            found.flatten.start()
            assert await found.index_many([d[0] for d in docs]) == len(docs)
            yield found
        finally:
            await found.stop()
    finally:
        await store.close()

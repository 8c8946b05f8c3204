"""On PostgreSQL the search indexer has a pool of its own: searches (or anything
else) holding every connection of the shared pool do not hold indexing up."""

from __future__ import annotations

import asyncio
import contextlib
import time

from draftroom.auth.principal import ANONYMOUS
from draftroom.search.service import Search
from draftroom.store.postgres import PostgresStore
from search.helpers import ydoc_update

DOCS = 6


async def test_indexing_does_not_wait_for_the_shared_pool(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, min_pool=2, max_pool=2)
    await store.open()
    search = Search(store, lambda: "n1", workers=0)
    search.flatten.start()
    try:
        for i in range(DOCS):
            await store.create_document(f"d{i}", f"Title {i}")
            await store.append(f"d{i}", ydoc_update(f"# Part\nthe word{i} lighthouse"))
        await store.flush()
        async with contextlib.AsyncExitStack() as held:
            # Every connection of the shared pool busy, as under 20 concurrent searches.
            for _ in range(2):
                await held.enter_async_context(store.pool.acquire())
            began = time.monotonic()
            written = await asyncio.wait_for(
                search.index_many([f"d{i}" for i in range(DOCS)]), 10.0
            )
            took = time.monotonic() - began
        assert written == DOCS
        assert took < 5.0, f"indexing waited {took:.2f} s for the shared pool"
        found = await search.search(ANONYMOUS, "lighthouse", 50, None)
        assert {r["id"] for r in found["results"]} == {f"d{i}" for i in range(DOCS)}
    finally:
        await search.stop()
        await store.close()

"""``draftroom reindex`` rebuilds an index that went wrong, all of it or named documents,
and the index catches up by itself after a restart, on both stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

import draftroom
from draftroom.search.service import Search
from search.helpers import caught_up, search_server, seed


def _reindex(tmp_path: Path, store_url: str | None, *docs: str) -> subprocess.CompletedProcess[str]:
    where = ["--database-url", store_url] if store_url else ["--data-dir", str(tmp_path)]
    return subprocess.run(
        [sys.executable, "-m", "draftroom", "reindex", *docs, *where],
        capture_output=True,
        text=True,
        timeout=60,
        # the same draftroom this test imported, whatever the venv's install points at
        env={**os.environ, "PYTHONPATH": str(Path(draftroom.__file__).parents[1])},
    )


async def _found(http: httpx.AsyncClient, q: str) -> set[str]:
    r = await http.get("/api/search", params={"q": q})
    return {h["id"] for h in r.json()["results"]}


async def test_reindex_repairs_a_broken_index(tmp_path: Path, store_url: str | None) -> None:
    async with search_server(tmp_path, store_url, search_indexing=False) as server:
        await seed(server)  # nothing indexes: this node has indexing off
        async with httpx.AsyncClient(base_url=server.http) as http:
            assert await _found(http, "dragon") == set()
            done = _reindex(tmp_path, store_url)
            assert done.returncode == 0, done.stderr
            assert "reindexed 7 document(s)" in done.stdout
            assert await _found(http, "dragon") == {"dragons", "phrase"}
            # Break one document's entry (as a bug or a lost write would): reported
            # current, yet its text is not findable.
            sql = server.hub.feature(Search).engine.sql
            if store_url:
                await sql.execute("UPDATE search_sections SET terms = ''::tsvector")
            else:
                await sql.execute("UPDATE search_sections SET title_terms = '', body_terms = ''")
            assert await _found(http, "fox") == set()
            done = _reindex(tmp_path, store_url, "phrase")
            assert done.returncode == 0 and "reindexed 1 document(s)" in done.stdout
            assert await _found(http, "fox") == {"phrase"}
            assert await _found(http, "hoard") == set()  # only the named one was rebuilt
            missing = _reindex(tmp_path, store_url, "phrase", "nope")
            assert missing.returncode == 1 and "nope" in missing.stderr


async def test_after_a_restart_the_index_catches_up(tmp_path: Path, store_url: str | None) -> None:
    async with search_server(tmp_path, store_url, search_indexing=False) as server:
        await seed(server)  # written while no node indexes
    async with search_server(tmp_path, store_url) as server:
        await caught_up(server)
        async with httpx.AsyncClient(base_url=server.http) as http:
            assert await _found(http, "北京") == {"cjk"}

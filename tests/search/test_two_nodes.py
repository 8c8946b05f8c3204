"""Two server processes on one PostgreSQL and Redis index together; one is killed with
SIGKILL while indexing. Nothing is missed (every document ends at its stored version
and is found), and nothing is indexed twice: a trigger installed by the test logs
every index write, and no (document, version) appears in the log twice."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx

from devtools.waiting import eventually
from draftroom.store.postgres import PostgresStore
from search.helpers import ydoc_update

DOCS = 240
"""More than one sweep takes (a node's ``batch``, 200): the first node's pass cannot
claim them all, and its next pass starts a second later (``MIN_PERIOD``), after the
other node's has. With 120, one node indexed every document before the other's first
pass in 1 run of 5, and the test waited for sharing that never came."""
WORDS = "river stone lantern meadow orchard harbour thistle copper ember willow".split()

_LOG_WRITES = """
CREATE TABLE index_writes (doc_id text, version bigint, node text);
CREATE FUNCTION log_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO index_writes (doc_id, version, node)
        VALUES (NEW.doc_id, NEW.indexed_version, OLD.claimed_by);
    RETURN NEW;
END $$;
CREATE TRIGGER log_index_write AFTER UPDATE OF indexed_version ON search_documents
    FOR EACH ROW EXECUTE FUNCTION log_index_write();
"""


def _text(i: int, extra: str = "") -> str:
    body = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(3000))
    return f"# Part {i}\nmarker{i} {body} {extra}"


async def test_two_nodes_one_killed_mid_indexing(
    postgres_url: str, redis_url: str, draftroom_process: Any
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()  # migrations, so the test can hook the index table
    db = await asyncpg.connect(postgres_url)
    try:
        await db.execute(_LOG_WRITES)
        args = (
            "--database-url", postgres_url, "--redis-url", redis_url,
            "--search-sweep-seconds", "0.1", "--search-debounce-seconds", "0.05",
            "--search-lease-seconds", "2",
        )  # fmt: skip
        a = draftroom_process(*args)
        b = draftroom_process(*args)
        for i in range(DOCS):
            await store.create_document(f"doc{i}", f"Document {i}")
            store.append(f"doc{i}", ydoc_update(_text(i)))
        await store.flush()

        async def writes() -> int:
            return int(await db.fetchval("SELECT count(*) FROM index_writes"))

        async def both_nodes_indexing() -> bool:
            return bool(await db.fetchval("SELECT count(DISTINCT node) FROM index_writes") == 2)

        # Kill A once both nodes share the work (the sweeps start at their own pace).
        await eventually(both_nodes_indexing, within=30, interval=0.005)
        a.kill9()
        killed_at = await writes()
        assert killed_at < DOCS, "node A was killed after indexing had finished"
        # More edits while A is dead: B must index these too.
        for i in range(0, DOCS, 10):
            store.append(f"doc{i}", ydoc_update(f" afterkill{i}"))
        await store.flush()

        async def caught_up() -> bool:
            behind = await db.fetchval(
                "SELECT count(*) FROM documents d LEFT JOIN search_documents s"
                " ON s.doc_id = d.id WHERE s.doc_id IS NULL OR s.indexed_version < d.seq"
            )
            return behind == 0

        start = time.monotonic()
        await eventually(caught_up, within=60, interval=0.05)
        took = time.monotonic() - start

        dupes = await db.fetch(
            "SELECT doc_id, version, count(*) AS n FROM index_writes"
            " GROUP BY doc_id, version HAVING count(*) > 1"
        )
        assert dupes == [], [dict(r) for r in dupes]
        async with httpx.AsyncClient(base_url=b.http_url, timeout=10) as http:
            for i in range(DOCS):
                r = await http.get("/api/search", params={"q": f"marker{i} "})
                assert [h["id"] for h in r.json()["results"]] == [f"doc{i}"], (i, r.text)
            for i in range(0, DOCS, 10):
                r = await http.get("/api/search", params={"q": f"afterkill{i} "})
                assert [h["id"] for h in r.json()["results"]] == [f"doc{i}"], (i, r.text)
        print(f"index writes before kill: {killed_at}; caught up {took:.1f}s after the kill")
    finally:
        await db.close()
        await store.close()

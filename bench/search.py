"""Search under editing load, both stores: latency, freshness, edit-path cost, index size.

Per store, in one invocation:
1. A generated corpus (``--docs``, default 100,000) of novel-like plain-text documents,
   1-50 KB each (log-uniform), with "# Part" / "## Chapter" headings and a Zipf vocabulary
   plus character names, written straight into a fresh store.
2. The index is built in-process (as a node that has caught up would have it; the
   build rate and the index size against the text size are recorded). With
   ``--corpus-dir DIR`` steps 1-2 are done once and reused by later runs; ``--prepare``
   does only them, so they can run niced, outside the benchmark lock.
   A server then starts on the store with indexing on.
3. Load, indexing ON: ``--writers`` (200) clients each type into their own corpus document
   (a keystroke every 150-300 ms; save-ack latency = send -> "saved" ack), ``--searchers``
   (20) clients run queries (words, AND, prefixes, phrases; ``--think``, 1 s, between
   queries: a person typing), and 10 of the writers type a unique marker word every
   2 s, polled until found (freshness = ack of the marker -> first search finding it).
4. The naive baseline: each word query as a substring scan of the stored text
   (``ILIKE '%w%'`` / ``instr(lower(body), w)``) against the index, quiet, same data
   (run before step 3, so both load phases find the page cache warm).
5. The same load with ``--no-search-indexing``: the save-ack p99 to compare against.
   With ``--rounds N`` steps 3 and 5 run N times each, in turn and reversed every other
   round (on off, off on, ...), a fresh server each phase: a single phase's save-ack p99
   moved 23-328 ms between runs on this machine, so one pair cannot judge +10%. The
   targets are judged on the samples of all rounds pooled; each round's p99s and its
   ack ratio (on / off) are reported for the spread.

In both load phases one more client task asks ``GET /healthz`` every 0.1 s through the
searchers' own HTTP client: a request that does no work, so its latency is the floor
any search pays in that run (the client, HTTP, the node's event loop), reported as the
class "no-op" beside the query classes.

Exits non-zero (``FAILED:`` lines) on any error or missed target: search p99 < 50 ms,
freshness p99 < 2 s, save-ack p99 with indexing within 10% of without.

    .venv/bin/python bench/search.py --docs 20000 --seconds 30
    nice -n 15 .venv/bin/python bench/search.py --docs 20000 --corpus-dir /tmp/c --prepare
    flock /work/wt/_bench.lock .venv/bin/python bench/search.py --docs 20000 --corpus-dir /tmp/c
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import itertools
import json
import math
import multiprocessing
import os
import queue
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import common
import httpx
from common import fmt, markdown_table, percentiles
from pycrdt import Doc
from search_corpus import Corpus, postgres_in, queries

from devtools.postgres import PostgresServer
from draftroom.client import DraftroomClient
from draftroom.search.engine import Engine
from draftroom.search.postgres import PostgresEngine
from draftroom.search.sqlite import FTS5Engine
from draftroom.search.text import IndexEntry, entry_from_doc
from draftroom.store import sqlite_index
from draftroom.store.postgres import PostgresStore
from draftroom.store.sql import PostgresSQL, SQLiteInTransaction, SQLiteSQL
from draftroom.store.sqlite import SQLiteStore

QUERY_CLASSES = ("word", "and", "prefix", "phrase")
"""The query classes of ``search_corpus.queries``."""

CHUNK = 250
"""Documents per generated chunk: one worker task, one transaction, one resume point."""


def corpus_chunk(start: int, stop: int) -> list[tuple[str, str, int, bytes, IndexEntry]]:
    """Documents ``start``..``stop`` (their own random stream, so any process makes the
    same chunk): id, title, text bytes, the Y update a writer would have stored, and
    the index entry the indexer builds from that update (``entry_from_doc`` of the
    Doc, not of the generated text: what a node that has caught up would hold).
    Runs in a worker process: generating and flattening is ~6 ms a document."""
    corpus = _worker_corpus()
    corpus.rng = random.Random(f"chunk {start}")
    out = []
    for i in range(start, stop):
        title, text, update = corpus.document()
        doc: Doc = Doc()
        doc.apply_update(update)
        out.append((f"doc{i:06d}", title, len(text.encode()), update, entry_from_doc(title, doc)))
    return out


_CORPUS: Corpus | None = None


def _worker_corpus() -> Corpus:
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = Corpus()  # the vocabulary (seed 7) is the same in every process
    return _CORPUS


class Bulk:
    """Writes generated chunks, each in one transaction: the documents and their
    updates with plain SQL, the index through the store's own engine (claim, then
    write, as ``Search.index`` does), so the rows are exactly the server's."""

    def __init__(self, dialect: str, where: str) -> None:
        self.dialect, self.where = dialect, where
        self.pg: asyncpg.Connection | None = None
        self.lite: sqlite3.Connection | None = None
        self.engine: Engine | None = None
        self.gin: dict[str, str] = {}

    async def open(self) -> None:
        if self.dialect == "postgres":
            self.pg = await asyncpg.connect(self.where)
            pg = self.pg
            self.engine = PostgresEngine(PostgresSQL(lambda: pg))  # type: ignore[arg-type,return-value]
        else:
            self.lite = sqlite3.connect(self.where, isolation_level=None, timeout=30)
            self.lite.execute("PRAGMA journal_mode=WAL")
            # A crash loses at most the open chunk, which the resume redoes anyway.
            self.lite.execute("PRAGMA synchronous=OFF")
            self.lite.execute("PRAGMA cache_size=-400000")
            _attach_index(self.lite, self.where)
            self.lite.execute("PRAGMA search.synchronous=OFF")
            self.lite.execute("PRAGMA search.cache_size=-400000")
            # No incremental merging while loading (~15% of the write time): the
            # 'optimize' at the end merges everything once, then it is back on.
            self.lite.execute(
                "INSERT INTO search_section_fts (search_section_fts, rank) VALUES ('automerge', 0)"
            )
            self.engine = FTS5Engine(SQLiteInTransaction(self.lite))

    async def drop_gin(self, state: dict[str, Any]) -> None:
        """PostgreSQL: drop the full-text (GIN) indexes for the load, their definitions
        kept in ``state`` (so a resumed build still has them): one CREATE INDEX over the
        loaded rows is far cheaper than a GIN insert per row. ``optimize`` rebuilds them."""
        if self.pg is None:
            return
        rows = await self.pg.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'search_%'"
            " AND indexdef LIKE '%USING gin%'"
        )
        gin = state.setdefault("gin", {})
        for r in rows:
            gin[r["indexname"]] = r["indexdef"]
        self.gin = gin
        for r in rows:
            await self.pg.execute(f'DROP INDEX "{r["indexname"]}"')
        await self.pg.execute("SET synchronous_commit = off")

    async def done(self) -> int:
        """Documents already written (chunks commit whole and in order)."""
        if self.pg is not None:
            return int(await self.pg.fetchval("SELECT count(*) FROM documents"))
        assert self.lite is not None
        return int(self.lite.execute("SELECT count(*) FROM documents").fetchone()[0])

    async def write(self, chunk: list[tuple[str, str, int, bytes, IndexEntry]]) -> None:
        docs = [(doc_id, title, len(update)) for doc_id, title, _, update, _ in chunk]
        updates = [(doc_id, update) for doc_id, _, _, update, _ in chunk]
        if self.pg is not None:
            async with self.pg.transaction():
                await self.pg.executemany(
                    "INSERT INTO documents (id, title, seq, size_bytes) VALUES ($1, $2, 1, $3)",
                    docs,
                )
                await self.pg.executemany(
                    "INSERT INTO updates (doc_id, seq, data) VALUES ($1, 1, $2)", updates
                )
                await self._index(chunk)
            return
        assert self.lite is not None
        iso = datetime.datetime.now(datetime.UTC).isoformat()
        self.lite.execute("BEGIN IMMEDIATE")
        try:
            self.lite.executemany(
                "INSERT INTO documents (id, title, created_at, updated_at, seq, size_bytes)"
                f" VALUES (?, ?, '{iso}', '{iso}', 1, ?)",
                docs,
            )
            self.lite.executemany(
                "INSERT INTO updates (doc_id, seq, data) VALUES (?, 1, ?)", updates
            )
            await self._index(chunk)
            self.lite.execute("COMMIT")
        except BaseException:
            self.lite.execute("ROLLBACK")
            raise

    async def _index(self, chunk: list[tuple[str, str, int, bytes, IndexEntry]]) -> None:
        assert self.engine is not None
        now = time.time()
        for doc_id, _, _, _, entry in chunk:
            if await self.engine.claim(doc_id, "prepare", now, 3600) is None:
                raise RuntimeError(f"{doc_id}: claimed by another node")
            if not await self.engine.write(doc_id, "prepare", 1, entry, now):
                raise RuntimeError(f"{doc_id}: the engine did not write its entry")

    async def optimize(self) -> None:
        """After the bulk load: FTS5 merges its segments into one b-tree (what a long-
        lived index converges to); PostgreSQL flushes the GIN pending lists and gets
        statistics for the planner."""
        if self.pg is not None:
            await self.pg.execute("SET maintenance_work_mem = '512MB'")
            for indexdef in self.gin.values():
                await self.pg.execute(indexdef)
            await self.pg.execute("VACUUM ANALYZE")
            return
        assert self.lite is not None
        self.lite.execute(
            "INSERT INTO search_section_fts (search_section_fts, rank) VALUES ('automerge', 4)"
        )
        for table in ("search_section_fts", "search_titles"):
            self.lite.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
        self.lite.execute("ANALYZE")
        self.lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.close()


def _attach_index(db: sqlite3.Connection, where: str) -> None:
    """The search index's own file beside the store's (``store/sqlite_index.py``);
    the index tables' names resolve to it unqualified."""
    db.execute("ATTACH DATABASE ? AS search", (str(Path(where).parent / sqlite_index.FILE_NAME),))


def _progress(path: Path, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The build's running totals, kept beside the corpus so a resumed build adds to them."""
    if state is not None:
        path.write_text(json.dumps(state))
        return state
    return json.loads(path.read_text()) if path.exists() else {"s": 0.0, "bytes": 0}


async def write_corpus(dialect: str, where: str, n: int, progress: Path) -> tuple[float, int]:
    """Generate and write ``n`` documents with their index, resuming after the last
    committed chunk. Generating and flattening run in ``cpu_count()`` worker processes,
    a few chunks ahead of the writes (bounded: a chunk is ~10 MB in flight). Returns
    (seconds, text bytes) over all runs that built this corpus."""
    bulk = Bulk(dialect, where)
    await bulk.open()
    state = _progress(progress)
    try:
        await bulk.drop_gin(state)
        _progress(progress, state)
        start = await bulk.done()
        if start % CHUNK:
            raise RuntimeError(f"{start} documents: not a whole number of chunks")
        started, loop = time.monotonic(), asyncio.get_running_loop()
        workers = max(1, common.cpu_count())
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            pending: collections.deque[asyncio.Future[Any]] = collections.deque()
            starts = iter(range(start, n, CHUNK))
            for first in starts:
                pending.append(
                    loop.run_in_executor(pool, corpus_chunk, first, min(n, first + CHUNK))
                )
                if len(pending) >= 2 * workers:
                    break
            while pending:
                chunk = await pending.popleft()
                for first in itertools.islice(starts, 1):
                    pending.append(
                        loop.run_in_executor(pool, corpus_chunk, first, min(n, first + CHUNK))
                    )
                await bulk.write(chunk)
                state["bytes"] += sum(size for _, _, size, _, _ in chunk)
                state["s"] += time.monotonic() - started
                started = time.monotonic()
                _progress(progress, state)
                done = int(chunk[-1][0][3:]) + 1
                if done % 5000 < CHUNK:
                    print(f"[{dialect}] {done} / {n} documents, {state['s']:.0f} s", flush=True)
        t = time.monotonic()
        await bulk.optimize()
        state["optimize_s"] = time.monotonic() - t
        _progress(progress, state)
        print(f"[{dialect}] optimize {state['optimize_s']:.0f} s", flush=True)
    finally:
        await bulk.close()
    return state["s"] + state["optimize_s"], int(state["bytes"])


class DB:
    """The bench's own connection, for progress, sizes and the naive baseline."""

    def __init__(self, dialect: str, where: str) -> None:
        self.dialect, self.where = dialect, where
        self.pg: asyncpg.Connection | None = None
        self.lite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.dialect == "postgres":
            self.pg = await asyncpg.connect(self.where)
        else:
            # The server's store moves an older corpus's index into search.db on open:
            # done here first, so that the index this connection attaches is that one.
            store = SQLiteStore(Path(self.where).parent)
            await store.open()
            await store.close()
            self.lite = sqlite3.connect(self.where, timeout=30, check_same_thread=False)
            _attach_index(self.lite, self.where)

    async def value(self, query: str, *args: Any) -> Any:
        if self.pg is not None:
            return await self.pg.fetchval(query, *args)
        assert self.lite is not None
        q = query.replace("$1", "?")
        return await asyncio.to_thread(lambda: self.lite.execute(q, args).fetchone()[0])  # type: ignore[union-attr]

    async def behind(self) -> int:
        return int(
            await self.value(
                "SELECT count(*) FROM documents d LEFT JOIN search_documents s"
                " ON s.doc_id = d.id WHERE s.doc_id IS NULL OR s.indexed_version < d.seq"
            )
        )

    async def indexed(self, doc_ids: list[str]) -> dict[str, tuple[int, float]]:
        """doc id -> (indexed version, when it was indexed), from the indexer's rows."""
        query = (
            "SELECT doc_id, indexed_version, indexed_at FROM search_documents WHERE doc_id IN"
            f" ({', '.join(f'${i + 1}' for i in range(len(doc_ids)))})"
        )
        if self.pg is not None:
            rows = await self.pg.fetch(query, *doc_ids)
        else:
            lite = self.lite
            assert lite is not None
            q = SQLiteSQL.translate(query)
            rows = await asyncio.to_thread(lambda: lite.execute(q, doc_ids).fetchall())
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}

    async def sizes(self) -> tuple[int, int]:
        """(index bytes, text bytes) of the search data: the text kept for snippets is
        counted as text, the terms and the full-text indexes as index."""
        if self.pg is not None:
            text = await self.value("SELECT sum(octet_length(body)) FROM search_sections")
            index = await self.value(
                "SELECT pg_relation_size('search_sections_terms')"
                " + pg_relation_size('search_documents_title_terms')"
                " + (SELECT sum(pg_column_size(terms)) FROM search_sections)"
                " + (SELECT sum(pg_column_size(title_terms)) FROM search_documents)"
            )
            return int(index), int(text)
        text = await self.value("SELECT sum(length(CAST(body AS BLOB))) FROM search_sections")
        index = await self.value(
            "SELECT (SELECT sum(length(block)) FROM search_section_fts_data)"
            " + (SELECT sum(length(block)) FROM search_titles_data)"
            " + (SELECT sum(length(CAST(body_terms AS BLOB)) + length(CAST(title_terms AS BLOB)))"
            " FROM search_sections)"
            " + (SELECT sum(length(CAST(title_terms AS BLOB))) FROM search_documents)"
        )
        return int(index), int(text)

    async def naive(self, word: str) -> float:
        """The same text scanned for a substring, no index."""
        t = time.perf_counter()
        if self.pg is not None:
            await self.value(
                "SELECT count(DISTINCT doc_id) FROM search_sections WHERE body ILIKE $1",
                f"%{word}%",
            )
        else:
            await self.value(
                "SELECT count(DISTINCT doc_id) FROM search_sections"
                " WHERE instr(lower(body), $1) > 0",
                word,
            )
        return (time.perf_counter() - t) * 1000

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.close()


WARMUP = 5.0  # s: connect, sync, first indexing passes, before anything is measured
POLL = 0.1  # s: how often the indexed-version rows of unconfirmed markers are read


def writers_process(
    base: str, ids: list[int], n_docs: int, window: Any, go: Any, markers: bool, out: Any
) -> None:
    """A share of the writers, in a process of their own, so their CPU does not slow
    the searchers' clock (or the other way round). Sends ("ready",) once its writers
    are connected, ("marker", ...) as markers are acknowledged and ("done", results)
    at the end. ``window`` (shared) is set by the parent once every process is ready:
    monotonic clocks agree across processes, so all measure the same seconds."""
    out.put(("done", asyncio.run(_writers(base, ids, n_docs, window, go, markers, out))))


async def _writers(
    base: str, ids: list[int], n_docs: int, window: Any, go: Any, markers: bool, out: Any
) -> dict[str, Any]:
    # DraftroomClient sends from fire-and-forget tasks: a send racing the close at the
    # end is expected, not worth a traceback per writer.
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    acks: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(3 + ids[0] if ids else 3)
    ws = base.replace("http://", "ws://") + "/ws/"
    clients: list[DraftroomClient] = []

    def fail(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def connect(i: int) -> DraftroomClient | None:
        client = DraftroomClient(ws + f"doc{(i * 37) % n_docs:06d}", app_messages=True)
        try:
            await client.connect()
        except Exception:
            fail("connect")
            return None
        clients.append(client)
        return client

    async def writer(i: int, client: DraftroomClient | None) -> None:
        if client is None:
            return
        doc_id = client.url.rsplit("/", 1)[1]
        next_marker = time.monotonic() + 2 + rng.random() * 2
        k = 0
        # A keystroke is started only while the run lasts, and every keystroke
        # started is waited for: one still unacknowledged when the run stops is an
        # error like any other, not a casualty of the close.
        while time.monotonic() + 0.3 < end:
            await asyncio.sleep(rng.uniform(0.15, 0.3))
            marker = markers and i < 10 and time.monotonic() >= next_marker
            k += 1
            word = f" zq{i}x{k} " if marker else rng.choice("abcdefgh ")
            t = time.monotonic()
            try:
                await client.wait_saved(client.insert(word), within=10)
            except TimeoutError:
                fail("ack not received in 10 s" if client.close_code is None else "ack: closed")
                continue
            except Exception as exc:
                fail(f"ack: {type(exc).__name__}")
                continue
            acked = time.monotonic()
            measured = begin <= t and acked <= end
            if measured:
                acks.append((acked - t) * 1000)
            if marker:
                next_marker = acked + 2
                out.put(("marker", word.strip(), doc_id, client.version, time.time(), measured))

    connected = await asyncio.gather(*(connect(i) for i in ids))
    out.put(("ready",))
    # The parent sets the window once every writer process is ready.
    if not await asyncio.to_thread(go.wait, 300):
        raise RuntimeError("the measured window was never set")
    begin, end = window[0], window[1]
    tasks = [asyncio.create_task(writer(i, c)) for i, c in zip(ids, connected, strict=True)]
    await asyncio.sleep(max(0.0, begin - time.monotonic()))
    cpu = time.process_time()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu = time.process_time() - cpu
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()
    return {"acks": acks, "errors": errors, "connected": len(clients), "cpu_s": cpu}


class Freshness:
    """Index freshness of the markers: ack -> the pass that indexed them.

    The indexer's own record says when: ``search_documents`` keeps the version indexed
    and when (``indexed_at``, the server's wall clock, as the marker's ack time is);
    a marker is indexed once that version reaches the one its ack named. The rows of
    all markers not yet indexed are read every ``POLL`` seconds (one statement), so
    the time is exact unless a later pass rewrote the row in between, when it is at
    most ``POLL`` late. Each marker is then confirmed by one ``/api/search`` for it,
    the way a writer would look (retried twice, 0.5 s apart, before it counts as an
    error): a light load, not a probe per marker polling the search API."""

    def __init__(self, db: DB, http: httpx.AsyncClient, fail: Any) -> None:
        self.db, self.http, self.fail = db, http, fail
        self.pending: dict[str, tuple[str, int, float, bool]] = {}
        self.fresh: list[float] = []
        self.confirms: list[asyncio.Task[None]] = []

    def add(self, word: str, doc_id: str, version: int, acked: float, measured: bool) -> None:
        self.pending[word] = (doc_id, version, acked, measured)

    async def poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self.pending:
            await asyncio.sleep(POLL)
            if not self.pending:
                continue
            rows = await self.db.indexed(sorted({p[0] for p in self.pending.values()}))
            now = time.time()
            for word, (doc_id, version, acked, measured) in list(self.pending.items()):
                indexed_version, indexed_at = rows.get(doc_id, (-1, 0.0))
                if indexed_version >= version:
                    del self.pending[word]
                    if measured:
                        self.fresh.append(indexed_at - acked)
                    self.confirms.append(asyncio.create_task(self.confirm(word)))
                elif now - acked > 10:
                    del self.pending[word]
                    self.fail("marker not indexed in 10 s")

    async def confirm(self, word: str) -> None:
        for _ in range(3):
            r = await self.http.get("/api/search", params={"q": word + " "})
            if r.status_code == 200 and r.json()["results"]:
                return
            await asyncio.sleep(0.5)
        self.fail("marker indexed but not found by /api/search")


async def load(
    base: str,
    db: DB,
    args: argparse.Namespace,
    qs: list[tuple[str, str]],
    markers: bool,
) -> dict[str, Any]:
    stop = asyncio.Event()
    searches: list[float] = []
    per_class: dict[str, list[float]] = collections.defaultdict(list)
    errors: dict[str, int] = {}
    rng = random.Random(5)
    http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=64))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    window = ctx.Array("d", 2)  # (begin, end), monotonic, set once all are connected
    go = ctx.Event()
    shares = [list(range(args.writers))[p :: args.writer_procs] for p in range(args.writer_procs)]
    procs = [
        ctx.Process(
            target=writers_process,
            args=(base, ids, args.docs, window, go, markers, out),
            daemon=True,
        )
        for ids in shares
    ]
    for proc in procs:
        proc.start()

    def fail(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    fresh = Freshness(db, http, fail)
    ready, connect_by = 0, time.monotonic() + 120
    while ready < len(procs):
        try:
            message = out.get_nowait()
        except queue.Empty:
            message = None
        if message is not None:
            ready += message[0] == "ready"
        elif time.monotonic() > connect_by or not all(p.is_alive() for p in procs):
            for proc in procs:
                proc.terminate()  # ours, by their Process handles
            await http.aclose()
            raise RuntimeError(f"only {ready} of {len(procs)} writer processes connected")
        else:
            await asyncio.sleep(0.05)
    now = time.monotonic()
    window[0], window[1] = now + WARMUP, now + WARMUP + args.seconds
    go.set()

    async def searcher() -> None:
        while not stop.is_set():
            kind, q = rng.choice(qs)
            t = time.perf_counter()
            r = await http.get("/api/search", params={"q": q})
            if r.status_code != 200:
                fail(f"search {r.status_code}")
            elif window[0] <= time.monotonic() <= window[1]:
                searches.append((time.perf_counter() - t) * 1000)
                per_class[kind].append(searches[-1])
            await asyncio.sleep(args.think)

    noops: list[float] = []

    async def floor() -> None:
        # A request that does nothing, from the same client as the searches: what any
        # request costs in this run (client, HTTP, the node's loop), search or not.
        while not stop.is_set():
            t = time.perf_counter()
            r = await http.get("/healthz")
            if r.status_code != 200:
                fail(f"healthz {r.status_code}")
            elif window[0] <= time.monotonic() <= window[1]:
                noops.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.1)

    tasks = [asyncio.create_task(searcher()) for _ in range(args.searchers)]
    tasks.append(asyncio.create_task(floor()))
    poller = asyncio.create_task(fresh.poll(stop))
    written: list[dict[str, Any]] = []
    deadline = window[1] + 60
    while time.monotonic() < deadline and len(written) < len(procs):
        try:
            message = out.get_nowait()
        except queue.Empty:
            await asyncio.sleep(0.01)
            continue
        if message[0] == "marker":
            fresh.add(*message[1:])
        else:
            written.append(message[1])
    stop.set()
    await asyncio.gather(*tasks, poller, return_exceptions=True)
    await asyncio.gather(*fresh.confirms, return_exceptions=True)
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    await http.aclose()
    if len(written) < len(procs):
        return {"errors": {"writers process": len(procs) - len(written)}, "connected": 0}
    for w in written:
        for kind, n in w["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    return {
        "samples": {
            "ack_ms": [a for w in written for a in w["acks"]],
            "search_ms": list(searches),
            "fresh_s": list(fresh.fresh),
            "noop_ms": list(noops),
            **{f"class {k}": list(v) for k, v in per_class.items()},
        },
        "ack_ms": percentiles([a for w in written for a in w["acks"]]),
        "search_ms": percentiles(searches),
        "search_class_ms": {k: percentiles(v) for k, v in sorted(per_class.items())},
        "noop_ms": percentiles(noops),
        "fresh_s": percentiles(fresh.fresh),
        "errors": errors,
        "connected": sum(w["connected"] for w in written),
        "client_cores": sum(w["cpu_s"] for w in written) / args.seconds,
        "writer_procs": len(procs),
    }


async def quiet_queries(base: str, db: DB, words: list[str], scan: bool) -> dict[str, Any]:
    indexed, naive = [], []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for _ in range(3):
            for w in words:
                t = time.perf_counter()
                await http.get("/api/search", params={"q": w + " "})
                indexed.append((time.perf_counter() - t) * 1000)
                if scan:  # 3-7 s a word at 100,000 documents
                    naive.append(await db.naive(w.lower()))
    return {"indexed_ms": percentiles(indexed), "naive_ms": percentiles(naive)}


async def prepare(dialect: str, args: argparse.Namespace, work: Path, where: str) -> dict[str, Any]:
    """Generate the corpus and its index in ``work``, unless a run with the same
    ``--docs`` already did (``ready.json``); an interrupted run resumes. With
    ``--corpus-dir`` this is done once, niced, outside the benchmark lock, and every
    measured run reuses it."""
    ready = work / "ready.json"
    if ready.exists():
        info: dict[str, Any] = json.loads(ready.read_text())
        if info["docs"] == args.docs:
            return info
        raise RuntimeError(f"{work} holds a corpus of {info['docs']} documents")
    store: Any = PostgresStore(where) if dialect == "postgres" else SQLiteStore(work / "data")
    await store.open()  # the schema: migrations
    await store.close()
    build, text_bytes = await write_corpus(dialect, where, args.docs, work / "progress.json")
    db = DB(dialect, where)
    await db.open()
    try:
        index_bytes, indexed_text = await db.sizes()
    finally:
        await db.close()
    info = {
        "docs": args.docs, "text_mb": text_bytes / 1e6, "build_s": build,
        "build_docs_per_s": args.docs / build, "index_bytes": index_bytes,
        "indexed_text_bytes": indexed_text,
    }  # fmt: skip
    print(
        f"[{dialect}] corpus and index: {args.docs} docs, {text_bytes / 1e6:.0f} MB in"
        f" {build:.0f} s ({args.docs / build:.0f}/s); index/text"
        f" {index_bytes / max(1, indexed_text):.2f}x",
        flush=True,
    )
    ready.write_text(json.dumps(info))
    return info


async def run_store(
    dialect: str, args: argparse.Namespace, work: Path, keep: bool
) -> dict[str, Any]:
    corpus = Corpus()
    pg: PostgresServer | None = None
    url = None
    (work / "data").mkdir(parents=True, exist_ok=True)
    if dialect == "postgres":
        pg = postgres_in(work if keep else None)
        pg.extra_conf.update(dict(kv.split("=", 1) for kv in args.pg_conf))
        pg.start()
        url = pg.database_url("bench_search")
        if not any((work / f).exists() for f in ("ready.json", "progress.json")):
            pg.create_database("bench_search")  # else a build to resume, or done
        where = url
    else:
        where = str(work / "data" / "draftroom.sqlite3")
    try:
        info = await prepare(dialect, args, work, where)
        if args.prepare:
            return {"store": dialect, **info}
        return await measure(dialect, args, work, where, url, info, corpus)
    finally:
        if pg is not None:
            if keep:
                pg.stop()
            else:
                pg.cleanup()


async def measure(
    dialect: str,
    args: argparse.Namespace,
    work: Path,
    where: str,
    url: str | None,
    info: dict[str, Any],
    corpus: Corpus,
) -> dict[str, Any]:
    db = DB(dialect, where)
    await db.open()
    result: dict[str, Any] = {"store": dialect, **info}
    asked = queries(corpus).items()
    qs = [(kind, q) for kind, group in asked if kind in args.classes for q in group]
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    order = [p == "on" for p in args.phases]
    try:
        for i, indexing in enumerate(
            x for r in range(args.rounds) for x in (order if r % 2 == 0 else order[::-1])
        ):
            port = common.free_port()
            extra = ["--api-rate-per-minute", "100000000", *args.server_arg]
            if not indexing:
                extra.append("--no-search-indexing")
            server = common.draftroom_server(
                port=port, data_dir=work / "data", log_dir=work / "logs", database_url=url,
                extra=extra,
            )  # fmt: skip
            server.start()
            base = f"http://127.0.0.1:{port}"
            try:
                if indexing:  # catch up on the edits of earlier runs' phases
                    t = time.monotonic()
                    while (left := await db.behind()) > 0:
                        await asyncio.sleep(1)
                        if time.monotonic() - t > args.index_timeout:
                            raise RuntimeError(f"index catch-up: {left} documents left")
                    result["catch_up_s"] = time.monotonic() - t
                if indexing and "quiet" not in result:
                    # Quiet, before any load: it also reads the index and the text
                    # into the page cache, so the first phase does not start cold
                    # and the second warm (a 100,000-document store is ~7 GB).
                    words = queries(corpus)["word"]
                    result["quiet"] = await quiet_queries(base, db, words, not args.no_naive)
                    print(f"[{dialect}] quiet: {json.dumps(result['quiet'])}", flush=True)
                cpu, t = server.cpu_seconds(), time.monotonic()
                run = await load(base, db, args, qs, indexing)
                run["node_cores"] = (server.cpu_seconds() - cpu) / (time.monotonic() - t)
                runs["on" if indexing else "off"].append(run)
                shown = {k: v for k, v in run.items() if k != "samples"}
                print(
                    f"[{dialect}] phase {i + 1}, indexing {'on' if indexing else 'off'}:"
                    f" {json.dumps(shown)}",
                    flush=True,
                )
            finally:
                server.stop()
    finally:
        await db.close()
    for phase, done in runs.items():
        if done:
            result[phase] = pooled(done)
    result["rounds"] = [
        {phase: _brief(done[r]) for phase, done in runs.items() if r < len(done)}
        for r in range(args.rounds)
    ]
    return result


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The phases of one kind (indexing on, or off) over all rounds: percentiles of
    their samples together, errors summed, the fewest connected writers."""
    if len(runs) == 1:
        return {k: v for k, v in runs[0].items() if k != "samples"}
    kinds = {k for r in runs for k in r.get("samples", {})} | {"ack_ms", "search_ms"}
    kinds |= {"noop_ms", "fresh_s"}
    samples = {k: [x for r in runs for x in r.get("samples", {}).get(k, [])] for k in kinds}
    errors: dict[str, int] = {}
    for r in runs:
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    return {
        "ack_ms": percentiles(samples["ack_ms"]),
        "search_ms": percentiles(samples["search_ms"]),
        "search_class_ms": {
            k.removeprefix("class "): percentiles(v)
            for k, v in sorted(samples.items())
            if k.startswith("class ")
        },
        "noop_ms": percentiles(samples["noop_ms"]),
        "fresh_s": percentiles(samples["fresh_s"]),
        "errors": errors,
        "connected": min(r["connected"] for r in runs),
        "client_cores": sum(r.get("client_cores", 0.0) for r in runs) / len(runs),
        "writer_procs": runs[0].get("writer_procs", 0),
        "node_cores": sum(r["node_cores"] for r in runs) / len(runs),
    }


def _brief(run: dict[str, Any]) -> dict[str, float]:
    def p99(key: str) -> float:
        return float(run.get(key, {}).get("p99", float("nan")))

    return {
        "ack_p99_ms": p99("ack_ms"),
        "search_p99_ms": p99("search_ms"),
        "fresh_p99_s": p99("fresh_s"),
        "noop_p99_ms": p99("noop_ms"),
    }


def verdicts(results: list[dict[str, Any]], writers: int) -> list[str]:
    failures = []
    for r in results:
        s = r["store"]
        on, off = r.get("on"), r.get("off")
        if not on or not off:  # with --phases on, the save-ack target is not checked
            failures.append(f"{s}: a load phase did not run")
        if not on:
            continue
        for phase, run in (("on", on), ("off", off or {})):
            if not run:
                continue
            failures += common.load_failures(
                f"{s} indexing {phase}", wanted=writers, connected=run["connected"],
                measured=run["ack_ms"]["n"], errors_total=sum(run["errors"].values()),
                errors=run["errors"],
            )  # fmt: skip
        if not on["search_ms"]["n"]:
            failures.append(f"{s}: no search was measured")
        if not on["fresh_s"]["n"]:
            failures.append(f"{s}: no freshness marker was measured")
        if not on["search_ms"]["p99"] < 50:
            failures.append(f"{s}: search p99 {on['search_ms']['p99']:.1f} ms >= 50 ms")
        if not on["fresh_s"]["p99"] < 2:
            failures.append(f"{s}: freshness p99 {on['fresh_s']['p99']:.2f} s >= 2 s")
        if off and not on["ack_ms"]["p99"] <= 1.10 * off["ack_ms"]["p99"]:
            failures.append(
                f"{s}: save-ack p99 {on['ack_ms']['p99']:.1f} ms with indexing vs"
                f" {off['ack_ms']['p99']:.1f} ms without (> +10%)"
            )
    return failures


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    rows = []
    for r in results:
        on, quiet = r["on"], r["quiet"]
        off = r.get("off") or {"ack_ms": {"p99": float("nan")}}
        rows.append([
            r["store"], fmt(r["docs"], 0), fmt(r["text_mb"], 0),
            f"{fmt(r['build_s'], 0)} s ({fmt(r['build_docs_per_s'], 0)}/s)",
            f"{r['index_bytes'] / r['indexed_text_bytes']:.2f}x",
            fmt(on["search_ms"]["p50"]), fmt(on["search_ms"]["p99"]),
            fmt(on["fresh_s"]["p50"], 2), fmt(on["fresh_s"]["p99"], 2),
            fmt(on["ack_ms"]["p99"]), fmt(off["ack_ms"]["p99"]),
            f"{fmt(quiet['indexed_ms']['p50'])} / {fmt(quiet['naive_ms']['p50'])}",
        ])  # fmt: skip
    head = [
        "store", "docs", "text MB", "index build", "index/text", "search p50 ms",
        "search p99 ms", "fresh p50 s", "fresh p99 s", "ack p99 ms (indexing)",
        "ack p99 ms (off)", "quiet word query: index / naive scan ms (p50)",
    ]  # fmt: skip
    # Per query class, indexing on: a class's cost apart from the mix it runs in.
    kinds = [
        [r["store"], kind, fmt(c["p50"]), fmt(c["p99"]), fmt(c["max"]), fmt(c["n"], 0)]
        for r in results
        for kind, c in r["on"].get("search_class_ms", {}).items()
    ]
    # The floor: GET /healthz from the searchers' own client, every 0.1 s, same load.
    kinds += [
        [
            r["store"],
            "no-op (/healthz)",
            fmt(c["p50"]),
            fmt(c["p99"]),
            fmt(c["max"]),
            fmt(c["n"], 0),
        ]
        for r in results
        if (c := r["on"].get("noop_ms"))
    ]
    # Each round's own p99s: the spread the pooled numbers above hide.
    rounds = []
    for r in results:
        for i, rnd in enumerate(r.get("rounds", [])):
            on, off = rnd.get("on", {}), rnd.get("off", {})
            ratio = on.get("ack_p99_ms", math.nan) / off.get("ack_p99_ms", math.nan)
            rounds.append([
                r["store"], i + 1, fmt(on.get("search_p99_ms")), fmt(on.get("noop_p99_ms")),
                fmt(on.get("fresh_p99_s"), 2), fmt(on.get("ack_p99_ms")),
                fmt(off.get("ack_p99_ms")), fmt(ratio, 2),
            ])  # fmt: skip
    per_round = ""
    if args.rounds > 1:
        per_round = "\n\n" + markdown_table(
            ["store", "round", "search p99 ms", "no-op p99 ms", "fresh p99 s",
             "ack p99 ms on", "ack p99 ms off", "ack on / off"],
            rounds,
        )  # fmt: skip
    info = common.machine_line(common.machine_info())
    info += f"; load average at the end {os.getloadavg()[0]:.1f} (shared machine)"
    return (
        f"{info}\n`bench/search.py --docs {args.docs} --writers {args.writers} --searchers"
        f" {args.searchers} --seconds {args.seconds:g} --think {args.think:g}"
        f" --classes {','.join(args.classes)} --rounds {args.rounds}`\n\n"
        + markdown_table(head, rows)
        + "\n\n"
        + markdown_table(["store", "class", "p50 ms", "p99 ms", "max ms", "searches"], kinds)
        + per_round
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--searchers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--think", type=float, default=1.0, help="a searcher's pause between queries (s)"
    )
    parser.add_argument(
        "--writer-procs",
        type=int,
        default=2,
        help="processes the writers are spread over (200 pycrdt clients saturate one)",
    )
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--classes",
        type=lambda v: v.split(","),
        default=list(QUERY_CLASSES),
        help=f"the searchers' query classes, of {','.join(QUERY_CLASSES)}"
        " (e.g. leave out phrase to see the rest apart from it)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the phases this many times, in turn and reversed every other round"
        " (on off, off on, ...); targets are judged on the rounds pooled, and each"
        " round's p99s are reported for the spread",
    )
    parser.add_argument(
        "--phases",
        type=lambda v: v.split(","),
        default=["on", "off"],
        help="load phases: indexing on, off (both: the save-ack target needs off)",
    )
    parser.add_argument(
        "--no-naive",
        action="store_true",
        help="skip the naive substring scans (minutes at 100,000 documents)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an extra argument for the server (repeat), e.g. --server-arg=--database-pool-max=20",
    )
    parser.add_argument(
        "--pg-conf",
        action="append",
        default=[],
        help="a PostgreSQL setting for the bench's cluster (repeat), e.g. shared_buffers=1GB",
    )
    parser.add_argument("--index-timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=None,
        help="keep the corpus and its index here (per store) and reuse them in later runs",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only generate the corpus and build its index (run niced, outside the lock)",
    )
    args = parser.parse_args()
    if unknown := set(args.classes) - set(QUERY_CLASSES):
        parser.error(f"--classes: unknown {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if not args.phases or set(args.phases) - {"on", "off"}:
        parser.error("--phases: on, off or on,off")
    common.install_signal_handlers()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results, failures = [], []
    for dialect in stores:
        keep = args.corpus_dir is not None
        if args.corpus_dir is not None:
            work = args.corpus_dir / f"{dialect}-{args.docs}"
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(tempfile.mkdtemp(prefix=f"bench-search-{dialect}-"))
        try:
            results.append(asyncio.run(run_store(dialect, args, work, keep)))
        except Exception as exc:  # a broken phase is a failed benchmark, with its reason
            failures.append(f"{dialect}: {type(exc).__name__}: {exc}")
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
    if args.prepare:
        print(json.dumps(results))
        return common.exit_status(failures)
    failures += verdicts(results, args.writers)
    complete = [r for r in results if "on" in r and "quiet" in r]
    if complete:
        print(report(complete, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return common.exit_status(failures)


if __name__ == "__main__":
    sys.exit(main())

"""The search feature: keeps the index behind the store, and answers queries.

Indexing is off the edit path. ``on_room_advance`` runs on it, so it only notes the
document id; a background task waits ``debounce`` seconds so a burst of keystrokes
becomes one indexing pass, then indexes each noted document: claim it, load it
from the store, flatten it and cut it into sections in a worker thread, and write
the sections that changed (``engine.py``): the terms of an unchanged section are
neither recomputed nor rewritten.

A pass writes its documents in groups, each group one transaction (``WRITE_GROUP``):
a document's entry is three statements, so 200 busy documents would cost 600 commits
a pass. Entries are built while the previous group is written.

On SQLite the indexer keeps off the edit path's writer thread too (``source_for``,
``engine_for``): the index is a file of its own, written, and the store read, on the
index's own connection and thread (``store/sqlite_index.py``), never queued in front
of an edit's commit.

Nothing is missed and nothing is done twice, with any number of nodes:
- The index keeps ``indexed_version`` beside each document, and a sweep every
  ``sweep_seconds`` picks documents whose stored version (or title) is ahead of
  it. Edits made while no room was open here, on a node that died, or before a
  restart are found this way; so is a document nobody has indexed yet.
- A node indexes a document only under a claim (a lease, one SQL statement), and
  writes only if the version is newer than what is indexed, so two nodes that
  both saw an edit index it once. A node killed mid-way leaves a lease that runs
  out, and the sweep of another node takes the document over.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import multiprocessing
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from pycrdt import Doc

from draftroom.auth.principal import Principal
from draftroom.crdt.room import Room
from draftroom.crdt.update_check import DepthIndex, apply_checked
from draftroom.document.load import build_doc
from draftroom.errors import Forbidden, RateLimited
from draftroom.features import BaseFeature
from draftroom.search.engine import Engine, Key
from draftroom.search.query import BadQuery, Query, parse
from draftroom.search.snippet import PATH_SEPARATOR, matcher, snippet, title_parts
from draftroom.search.text import (
    IndexEntry,
    SectionCutter,
    entry_from_doc,
    entry_from_state,
    layout_from_json,
)
from draftroom.store.base import DocumentMeta, Store, StoredState
from draftroom.store.sql import PostgresSQL, SQLiteInTransaction, SQLiteSQL, rollback, run_now
from draftroom.store.sqlite import IndexReads
from draftroom.worker_exit import tie_to_parent

log = logging.getLogger(__name__)

# Rest after a pass, in multiples of how long it took: a duty cycle of 1 / (1 + 1).
# At 4x (before 2026-11-29 23:00) 100,000 documents on SQLite were fresh within 9.1 s
# at p99; at 1x, with passes made cheaper (a kept Doc re-cuts only the segments an edit
# touched, a group's reads and claims are one hop), 1.36-2.12 s over four runs of three
# pooled rounds, save-ack within 10% of indexing off in three of them (0.75: fresher,
# acks no better). A fixed share of the wall time means the cheaper the pass the more
# often it runs: MIN_PERIOD bounds that.
REST_FACTOR = 1.0

MIN_PERIOD = 1.0
"""A pass starts at most once a second, so a busy document is indexed at most once a
second however cheap its pass: freshness within 2 s needs no more, and the fan-out
bench's 200 busy rooms (cheap passes) cost less CPU per delivery than at 4x without
the floor (docs/BENCHMARKS.md, "Fresh by default")."""

# The sweep reads every document's version (a scan: ~0.3 s at 30,000 documents on
# a loaded SQLite store; there, on the index's thread). It runs every
# ``sweep_seconds``, or less often, so that it takes at most this share of the time
# (judged on the faster of its last two runs); edits made here do not wait for it,
# they are noted.
SWEEP_DUTY = 0.05

WRITE_GROUP = 4
"""Documents claimed, and entries written, in one transaction: enough to pay one
commit for several documents, few enough that a node does not claim a whole pass
ahead of writing it (other nodes share the work). Paired save-ack runs (200 writers,
SQLite, index writes then on the writer thread): groups of 16 raised p99 ~25% over
the previous indexer and over indexing off, groups of 4 ~11% (docs/BENCHMARKS.md)."""

MAX_LIMIT = 50

SEARCHES_PER_USER = 2
"""Searches one user may have running at once on a node. A phrase of common words
reads every section holding its words (0.1-0.25 s on SQLite, 1-4 s on PostgreSQL at
100,000 documents), and the API rate limit counts requests, not their cost: without
this one writer's burst would hold every search connection (SQLite has four) and
queue everybody else's searches behind it."""


def engine_for(store: Store) -> Engine:
    if store.dialect == "postgres":
        from draftroom.search.postgres import PostgresEngine

        return PostgresEngine(store.sql, getattr(store, "reads", None))  # the search pool
    from draftroom.search.sqlite import FTS5Engine
    from draftroom.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        # Index writes in the index's own file, on its own connection and thread;
        # searches on the store's read-only connection: neither waits for the thread
        # that commits edits, nor holds it up.
        return FTS5Engine(store.index_sql, store.reads)
    return FTS5Engine(store.sql)


class Source(Protocol):
    """The store's reads the indexer makes."""

    async def get_document(self, doc_id: str) -> DocumentMeta | None: ...

    async def load(self, doc_id: str) -> StoredState: ...

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]: ...


def source_for(store: Store) -> Source:
    from draftroom.store.sqlite import SQLiteStore

    # SQLite: on the index's thread, not queued with the edit path's commits.
    return store.index_reads if isinstance(store, SQLiteStore) else store


class Search(BaseFeature):
    def __init__(
        self,
        store: Store,
        node_id: Callable[[], str],
        *,
        debounce: float = 0.25,
        sweep_seconds: float = 1.0,
        lease_seconds: float = 30.0,
        batch: int = 200,
        indexing: bool = True,
        workers: int = 1,
        rest_factor: float = REST_FACTOR,
    ) -> None:
        self.store = store
        self.engine: Engine = engine_for(store)
        self.source: Source = source_for(store)
        self._node_id = node_id
        self.debounce = debounce
        self.sweep_seconds = sweep_seconds
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.indexing = indexing
        self.rest_factor = rest_factor
        self.flatten = Flattener(workers)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # index writes this node made (for /metrics-style checks)
        self._running: dict[str, int] = {}  # user id -> their searches running here

    # -- feature hooks ----------------------------------------------------------------

    def on_room_advance(self, room: Room) -> None:
        self.note(room.doc_id)

    def note(self, doc_id: str) -> None:
        """Index ``doc_id`` soon (an edit, a new title). Cheap: a set add."""
        if self.indexing:  # else nobody would ever drain the set
            self._dirty.add(doc_id)
            self._wake.set()

    async def start(self) -> None:
        if self.indexing:
            self.flatten.start()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.flatten.close()

    # -- indexing -----------------------------------------------------------------------

    def rest(self, last_pass: float, since_began: float, debounce: float) -> float:
        """Seconds to wait before the next pass, ``since_began`` seconds after the last
        one began: ``rest_factor`` times as long as it took (so indexing takes at most
        1 / (1 + rest_factor) of a core, and under load results get older while acks
        and fan-out do not), a pass starting at most every ``MIN_PERIOD`` seconds (busy
        documents are re-indexed at most that often, however cheap a pass), and at
        least the debounce."""
        return max(
            debounce,
            last_pass * (1 + self.rest_factor) - since_began,
            MIN_PERIOD - since_began,
        )

    async def _run(self) -> None:
        next_sweep = 0.0
        sweeps = 0
        costs = (0.0, 0.0)  # seconds the last two sweeps took
        last_pass = 0.0
        began = -MIN_PERIOD
        while True:
            try:
                timeout = max(0.0, next_sweep - time.monotonic())
                debounce = 0.0
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                    debounce = self.debounce  # coalesce a burst of edits
                except TimeoutError:
                    pass
                await asyncio.sleep(self.rest(last_pass, time.monotonic() - began, debounce))
                began = time.monotonic()
                self._wake.clear()
                todo, self._dirty = self._dirty, set()
                if time.monotonic() >= next_sweep:
                    swept = time.monotonic()
                    todo.update(await self.engine.stale(time.time(), self.batch))
                    # The shorter of the last two: one slow sweep (a cold cache at
                    # start-up, a stall) does not hold the next one back.
                    costs = (costs[1], time.monotonic() - swept)
                    spacing = max(self.sweep_seconds, min(costs) / SWEEP_DUTY)
                    next_sweep = time.monotonic() + spacing
                    sweeps += 1
                    if sweeps % 60 == 0:
                        await self.engine.remove_orphans()
                await self.index_many(sorted(todo))
                if len(todo) >= self.batch:
                    next_sweep = 0.0  # more is waiting: go on at once
                last_pass = time.monotonic() - began
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("search indexing pass failed")
                await asyncio.sleep(1.0)

    async def index(self, doc_id: str) -> bool:
        """Index the stored document now, unless another node holds it or the index
        already has this version. True if this call wrote it."""
        ready = await self._prepare(doc_id)
        if ready is None:
            return False
        return (await self._write([ready]))[0]

    async def index_many(self, doc_ids: list[str]) -> int:
        """Index these documents (one pass), ``WRITE_GROUP`` at a time: a group's
        claims in one transaction, its entries written in one, the next group's
        entries built while one is written. A node holds at most two groups claimed
        and unwritten, so other nodes' sweeps find the rest of a large pass. Returns
        how many were written. A document that fails is logged and left to the sweep."""
        written = 0
        writing: asyncio.Task[list[bool]] | None = None
        try:
            for start in range(0, len(doc_ids), WRITE_GROUP):
                some = doc_ids[start : start + WRITE_GROUP]
                try:
                    group = await self._prepare_group(some)
                except Exception:  # e.g. the claims' transaction: none was taken
                    log.exception("search: indexing %s failed; the sweep retries", some)
                    group = []
                if writing is not None:
                    written += sum(await writing)
                    writing = None
                if group:
                    writing = asyncio.get_running_loop().create_task(self._write(group))
            if writing is not None:
                written += sum(await writing)
                writing = None
        finally:
            if writing is not None:  # cancelled: let the write finish, its claims with it
                await asyncio.shield(writing)
        return written

    async def _prepare_group(self, doc_ids: list[str]) -> list[_Ready]:
        """``_prepare`` for a group, in as few hops as the store allows: its metas,
        claims and new updates read in one job on SQLite's index thread (claims in one
        transaction on PostgreSQL), and the documents this node keeps
        advanced in one job of the flattening thread. A pass over 200 busy documents
        was ~4 hops a document, each a wake-up of a thread and of the event loop.
        A document that fails is logged and left to the sweep."""
        node = self._node_id()
        now = time.time()
        sql = self.engine.sql
        if isinstance(self.source, IndexReads) and isinstance(sql, SQLiteSQL):
            claimed = await self._claim_on_index_thread(sql, self.source, doc_ids, node, now)
        else:
            claimed = await self._claim_each(doc_ids, node, now)
        out: list[_Ready] = []
        try:
            await self._build_group(claimed, node, out)
        except BaseException:  # cancelled: let go of what will not be written
            done = {r.doc_id for r in out}
            for c in claimed:
                if c.meta.id not in done:
                    await asyncio.shield(self.engine.release(c.meta.id, node))
            raise
        return out

    async def _build_group(self, claimed: list[_Claimed], node: str, out: list[_Ready]) -> None:
        advance: list[tuple[_Claimed, str, int, list[tuple[int, bytes]], frozenset[str]]] = []
        rebuild: list[tuple[_Claimed, frozenset[str]]] = []
        for c in claimed:
            meta = c.meta
            try:
                known = await self._known(meta, node, c.held)
                if known is None:
                    continue
                kept_as = _kept_as(meta)
                cached = self.flatten.version(kept_as)
                tail = c.tail
                if tail is None and cached is not None and cached <= meta.version:
                    tail = await self.source.updates_since(meta.id, cached)
                if cached is not None and tail is not None and _follows(cached, tail, meta):
                    advance.append((c, kept_as, cached, tail, known))
                else:
                    rebuild.append((c, known))
            except Exception:
                log.exception("search: indexing %s failed; the sweep retries", meta.id)
                await asyncio.shield(self.engine.release(meta.id, node))
        if advance:
            entries = await self.flatten.more_many(
                [(kept_as, c.meta.title, tail, known) for c, kept_as, _, tail, known in advance]
            )
            for (c, _, cached, tail, known), entry in zip(advance, entries, strict=True):
                if isinstance(entry, IndexEntry):
                    out.append(_Ready(c.meta.id, node, tail[-1][0] if tail else cached, entry))
                else:  # no longer kept, or its tail failed to apply: from the store
                    if entry is not None:
                        log.warning("search: %s: %s; rebuilding it", c.meta.id, entry)
                    rebuild.append((c, known))
        for c, known in rebuild:
            try:
                entry, version = await self._rebuilt(c.meta, known)
            except Exception:
                log.exception("search: indexing %s failed; the sweep retries", c.meta.id)
                await asyncio.shield(self.engine.release(c.meta.id, node))
                continue
            out.append(_Ready(c.meta.id, node, version, entry))

    async def _claim_each(self, doc_ids: list[str], node: str, now: float) -> list[_Claimed]:
        metas: list[DocumentMeta] = []
        for doc_id in doc_ids:
            try:
                meta = await self.source.get_document(doc_id)
                if meta is None:
                    await self.engine.remove(doc_id)
                else:
                    metas.append(meta)
            except Exception:  # one bad document must not hold up the others
                log.exception("search: indexing %s failed; the sweep retries", doc_id)
        sql = self.store.sql
        if len(metas) > 1 and isinstance(sql, PostgresSQL):
            async with sql.transaction() as tx:
                engine = type(self.engine)(tx)
                helds = [await engine.claim(m.id, node, now, self.lease_seconds) for m in metas]
        else:
            helds = [await self.engine.claim(m.id, node, now, self.lease_seconds) for m in metas]
        return [_Claimed(m, h, None) for m, h in zip(metas, helds, strict=True) if h is not None]

    async def _claim_on_index_thread(
        self, sql: SQLiteSQL, reads: IndexReads, doc_ids: list[str], node: str, now: float
    ) -> list[_Claimed]:
        """SQLite: the group's metas, claims and, for documents whose Doc this node
        keeps, the updates stored since, as one job."""
        make = type(self.engine)
        lease = self.lease_seconds
        versions = self.flatten.version

        def job(db: sqlite3.Connection) -> list[_Claimed]:
            metas = {d: reads.get_document_now(d) for d in doc_ids}
            # On SQLite a claim is a read (one node, no leases): no transaction, no
            # commit; removing a deleted document's rows commits by itself.
            engine = make(SQLiteInTransaction(db))
            helds = {}
            for doc_id, meta in metas.items():
                if meta is None:
                    run_now(engine.remove(doc_id))
                else:
                    helds[doc_id] = run_now(engine.claim(doc_id, node, now, lease))
            out = []
            for doc_id, held in helds.items():
                meta = metas[doc_id]
                if held is None or meta is None:
                    continue  # another node holds it
                cached = versions(_kept_as(meta))
                tail = None
                if cached is not None and cached <= meta.version and _news(held, meta):
                    tail = reads.updates_since_now(doc_id, cached)
                out.append(_Claimed(meta, held, tail))
            return out

        return await sql.on_thread(job)

    async def _known(
        self, meta: DocumentMeta, node: str, held: dict[str, Any]
    ) -> frozenset[str] | None:
        """The section keys the index holds for a claimed document; None (and the
        claim released) if it is indexed at this version with this title already. A
        forgotten document (reindex) is rebuilt whole: it holds none."""
        if not _news(held, meta):
            await self.engine.release(meta.id, node)
            return None
        if held["indexed_version"] < 0:
            return frozenset()
        return frozenset(layout_from_json(held.get("sections") or "[]"))

    async def _prepare(self, doc_id: str) -> _Ready | None:
        """Claim the document and build its entry; None if there is nothing to write
        (deleted, held by another node, or already indexed at this version)."""
        meta = await self.source.get_document(doc_id)
        if meta is None:
            await self.engine.remove(doc_id)
            return None
        node = self._node_id()
        held = await self.engine.claim(doc_id, node, time.time(), self.lease_seconds)
        return await self._claimed(meta, node, held)

    async def _claimed(
        self, meta: DocumentMeta, node: str, held: dict[str, Any] | None
    ) -> _Ready | None:
        doc_id = meta.id
        if held is None:
            return None  # another node is on it; the sweep retries if it dies
        try:
            known = await self._known(meta, node, held)
            if known is None:
                return None
            entry, version = await self._entry(meta, known)
        except BaseException:
            await asyncio.shield(self.engine.release(doc_id, node))
            raise
        return _Ready(doc_id, node, version, entry)

    async def _write(self, group: list[_Ready]) -> list[bool]:
        """Write the entries, in one transaction when the store has them; if that
        fails, one by one, so a document the engine rejects fails alone."""
        try:
            wrote = await self._write_together(group)
        except Exception:
            log.exception("search: writing %d entries together failed; one by one", len(group))
            wrote = []
            for ready in group:
                try:
                    wrote.append(await self._write_one(self.engine, ready))
                except Exception:
                    log.exception("search: indexing %s failed; the sweep retries", ready.doc_id)
                    await asyncio.shield(self.engine.release(ready.doc_id, ready.node))
                    wrote.append(False)
        for ready, ok in zip(group, wrote, strict=True):
            if ok:
                self.writes += 1
                log.debug("search: %s indexed %s at %d", ready.node, ready.doc_id, ready.version)
        return wrote

    async def _write_together(self, group: list[_Ready]) -> list[bool]:
        sql = self.engine.sql
        make = type(self.engine)
        if isinstance(sql, SQLiteSQL):

            def job(db: sqlite3.Connection) -> list[bool]:
                # On the index's database thread, as one job: the engine's statements
                # run as plain calls on a connection already inside the transaction,
                # so each document's entries and indexed version commit together.
                engine = make(SQLiteInTransaction(db))
                db.execute("BEGIN IMMEDIATE")
                try:
                    out = [run_now(self._write_one(engine, ready)) for ready in group]
                    db.execute("COMMIT")
                except BaseException:
                    rollback(db)
                    raise
                return out

            return await sql.on_thread(job)
        if len(group) > 1 and isinstance(sql, PostgresSQL):
            async with sql.transaction() as tx:
                engine = make(tx)
                return [await self._write_one(engine, ready) for ready in group]
        return [await self._write_one(self.engine, ready) for ready in group]

    @staticmethod
    async def _write_one(engine: Engine, ready: _Ready) -> bool:
        return await engine.write(ready.doc_id, ready.node, ready.version, ready.entry, time.time())

    async def _entry(self, meta: DocumentMeta, known: frozenset[str]) -> tuple[IndexEntry, int]:
        """The document's entry and the version it reflects: from the Doc this node
        built last time plus the updates stored since (a few keystrokes), when it has
        one and the log still holds every update after it; else built from the store."""
        kept_as = _kept_as(meta)
        cached = self.flatten.version(kept_as)
        if cached is not None and cached <= meta.version:
            tail = await self.source.updates_since(meta.id, cached)
            if _follows(cached, tail, meta):
                entry = await self.flatten.more(kept_as, meta.title, tail, known)
                if entry is not None:
                    return entry, tail[-1][0] if tail else cached
        return await self._rebuilt(meta, known)

    async def _rebuilt(self, meta: DocumentMeta, known: frozenset[str]) -> tuple[IndexEntry, int]:
        state = await self.source.load(meta.id)
        entry = await self.flatten.full(
            _kept_as(meta), meta.title, state.snapshot, state.updates, state.seq, known
        )
        return entry, state.seq

    async def remove(self, doc_id: str) -> None:
        """A deleted document leaves the index in the delete request itself."""
        self._dirty.discard(doc_id)
        await self.engine.remove(doc_id)

    # -- queries --------------------------------------------------------------------------

    async def search(
        self, principal: Principal, text: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        if principal.anonymous:  # local development: everyone is this one user
            return await self._search(principal, text, limit, cursor)
        user = principal.user_id
        if self._running.get(user, 0) >= SEARCHES_PER_USER:
            raise RateLimited(
                f"{SEARCHES_PER_USER} searches of yours are still running; wait for them"
            )
        self._running[user] = self._running.get(user, 0) + 1
        try:
            return await self._search(principal, text, limit, cursor)
        finally:
            self._running[user] -= 1
            if not self._running[user]:
                del self._running[user]

    async def _search(
        self, principal: Principal, text: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        reader = _reader(principal)
        query = parse(text)
        after = _decode_cursor(cursor, query) if cursor else None
        reads = self.engine.reads
        if not isinstance(reads, SQLiteSQL):
            return await self._results(self.engine, query, reader, limit, after)
        make = type(self.engine)

        def job(db: sqlite3.Connection) -> dict[str, Any]:
            # SQLite: the whole search, snippets included, is one job on a reader
            # thread, its 3-6 statements plain calls in one read transaction (one
            # snapshot). A hop to a reader thread per statement cost the event loop,
            # which also runs the edit path, 1.8 ms of CPU a search; this costs 0.2.
            plain = SQLiteInTransaction(db)
            db.execute("BEGIN")
            try:
                return run_now(self._results(make(plain, plain), query, reader, limit, after))
            finally:
                rollback(db)  # it wrote nothing: ends the read transaction

        return await reads.on_thread(job)

    async def _results(
        self, engine: Engine, query: Query, reader: str | None, limit: int, after: Key | None
    ) -> dict[str, Any]:
        ranked = await engine.rank(query, reader, limit, after)
        stored = await engine.stored(ranked)
        found = matcher(query)
        results = []
        for hit in ranked:
            row = stored.get(hit.doc_id)
            if row is None:  # PostgreSQL: deleted or re-indexed between the two reads
                continue
            cut = snippet(row.body, found)
            offset = None
            if cut.offset is not None and row.offset is not None:
                offset = row.offset + cut.offset
            results.append(
                {
                    "id": hit.doc_id,
                    "title": row.title,
                    "title_parts": title_parts(row.title, found),
                    "title_match": bool(hit.key.title_hit),
                    "snippet": cut.parts,
                    "offset": offset,
                    "heading_path": row.path,
                    "heading": PATH_SEPARATOR.join(row.path),
                    "version": row.version,
                    "score": hit.key.score,
                }
            )
        more = len(ranked) == limit
        return {
            "query": query.key(),
            "results": results,
            "next_cursor": _encode_cursor(ranked[-1].key, query) if more and ranked else None,
        }

    async def title_matches(
        self, principal: Principal, text: str, limit: int, offset: int
    ) -> list[str]:
        return await self.engine.titles(parse(text), _reader(principal), limit, offset)


def _kept_as(meta: DocumentMeta) -> str:
    """The key of the Doc kept for a document: its id and creation time, so a document
    deleted and made again under the same id (on another node) is not mistaken for
    the old one."""
    return f"{meta.id}@{meta.created_at.isoformat()}"


def _news(held: dict[str, Any], meta: DocumentMeta) -> bool:
    """The index holds an older version or another title of the document."""
    return bool(held["indexed_version"] < meta.version or held["title"] != meta.title)


def _follows(cached: int, tail: list[tuple[int, bytes]], meta: DocumentMeta) -> bool:
    """``tail`` is every update after ``cached``: none missing (compacted away), and
    some, unless the kept Doc is the stored version already (a new title)."""
    contiguous = all(seq == cached + 1 + i for i, (seq, _) in enumerate(tail))
    return contiguous and bool(tail or cached == meta.version)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """A document this node claimed: its meta, what the index holds of it, and the
    updates stored since the Doc this node keeps of it (None: not read)."""

    meta: DocumentMeta
    held: dict[str, Any]
    tail: list[tuple[int, bytes]] | None


@dataclass(frozen=True, slots=True)
class _Ready:
    """A claimed document's entry, waiting to be written."""

    doc_id: str
    node: str
    version: int
    entry: IndexEntry


CACHED_DOCS = 256
"""Documents whose built Doc the indexer keeps (LRU): enough for 200 writers each in a
document of their own, so a pass applies their new keystrokes instead of rebuilding
each document, and checking every stored update again, from the store."""


class Flattener:
    """Builds index entries off the event loop: in a thread, or in worker processes.

    Building a Doc from the store checks every stored update (pure Python, ~0.25 ms a
    KB) and flattening it walks the whole text. In a thread that holds the GIL against
    the event loop, which is the edit path (acks, fan-out). So the thread (the
    default) is one dedicated thread that keeps the Docs it built (``CACHED_DOCS``)
    and applies only the updates stored since, and beside each its ``SectionCutter``,
    so only the segments an edit touched are cut again; a pycrdt Doc never leaves it. Worker
    processes (``--search-workers N``) leave the loop alone but rebuild each time;
    with them, stopping an in-process test server intermittently stalled for 30 s
    (PostgreSQL store, cause not yet found).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._thread: ThreadPoolExecutor | None = None
        # doc id -> (Doc, its depth index, version, the cutter of its last entry);
        # touched only in self._thread
        self._docs: OrderedDict[str, tuple[Doc, DepthIndex, int, SectionCutter]] = OrderedDict()
        self._versions: dict[str, int] = {}  # the cache's versions, read on the loop
        self.builds = self.advances = 0  # entries built from the store / from a kept Doc

    def start(self) -> None:
        if self.workers > 0 and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=tie_to_parent,
                initargs=(os.getpid(),),
            )
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="search-index")

    def version(self, doc_id: str) -> int | None:
        """The version of the Doc kept for ``doc_id``, if any."""
        return self._versions.get(doc_id)

    async def full(
        self,
        doc_id: str,
        title: str,
        snapshot: bytes | None,
        updates: list[bytes],
        seq: int,
        known: frozenset[str],
    ) -> IndexEntry:
        loop = asyncio.get_running_loop()
        if self._pool is not None:
            try:
                return await loop.run_in_executor(
                    self._pool, entry_from_state, title, snapshot, updates, known
                )
            except BrokenProcessPool:  # the worker died (killed, out of memory): a new one
                log.error("search worker process died; restarting it")
                self.close()
                self.start()
        return await loop.run_in_executor(
            self._executor(), self._build, doc_id, title, snapshot, updates, seq, known
        )

    async def more(
        self, doc_id: str, title: str, tail: list[tuple[int, bytes]], known: frozenset[str]
    ) -> IndexEntry | None:
        """The kept Doc with ``tail`` applied; None if it is no longer kept."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor(), self._advance, doc_id, title, tail, known
        )

    async def more_many(
        self, jobs: list[tuple[str, str, list[tuple[int, bytes]], frozenset[str]]]
    ) -> list[IndexEntry | Exception | None]:
        """``more`` for several documents in one job of the thread: per document its
        entry, None if it is no longer kept, or the error applying its tail raised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), self._advance_many, jobs)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self.start()
        assert self._thread is not None
        return self._thread

    # -- in the thread ----------------------------------------------------------------

    def _build(
        self,
        doc_id: str,
        title: str,
        snapshot: bytes | None,
        updates: list[bytes],
        seq: int,
        known: frozenset[str],
    ) -> IndexEntry:
        self.builds += 1
        depths = DepthIndex()
        doc = build_doc(snapshot, updates, depths)
        cutter = SectionCutter()
        self._keep(doc_id, doc, depths, seq, cutter)
        return entry_from_doc(title, doc, known, cutter)

    def _advance(
        self, doc_id: str, title: str, tail: list[tuple[int, bytes]], known: frozenset[str]
    ) -> IndexEntry | None:
        kept = self._docs.pop(doc_id, None)
        self._versions.pop(doc_id, None)
        if kept is None:
            return None
        self.advances += 1
        doc, depths, seq, cutter = kept
        for _, update in tail:
            apply_checked(doc, update, depths)  # raises: the Doc is not kept
        self._keep(doc_id, doc, depths, tail[-1][0] if tail else seq, cutter)
        return entry_from_doc(title, doc, known, cutter)

    def _advance_many(
        self, jobs: list[tuple[str, str, list[tuple[int, bytes]], frozenset[str]]]
    ) -> list[IndexEntry | Exception | None]:
        out: list[IndexEntry | Exception | None] = []
        for doc_id, title, tail, known in jobs:
            # This thread holds the GIL against the event loop (acks, fan-out): hand it
            # back between documents, as the hop per document used to.
            time.sleep(0)
            try:
                out.append(self._advance(doc_id, title, tail, known))
            except Exception as e:  # a bad stored update: that document, not the group
                out.append(e)
        return out

    def _keep(
        self, doc_id: str, doc: Doc, depths: DepthIndex, seq: int, cutter: SectionCutter
    ) -> None:
        self._docs[doc_id] = (doc, depths, seq, cutter)
        self._versions[doc_id] = seq
        while len(self._docs) > CACHED_DOCS:
            old, _ = self._docs.popitem(last=False)
            self._versions.pop(old, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None
        self._versions.clear()


def _reader(principal: Principal) -> str | None:
    if "read" not in principal.scopes:
        raise Forbidden("searching needs the read scope")
    return None if principal.is_admin else principal.user_id


def _query_tag(query: Query) -> str:
    return hashlib.sha256(query.key().encode()).hexdigest()[:12]


def _encode_cursor(key: Key, query: Query) -> str:
    raw = json.dumps([_query_tag(query), key.title_hit, key.score, key.doc_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, query: Query) -> Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, hit, score, doc_id = json.loads(raw)
        key = Key(int(hit), float(score), str(doc_id))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadQuery("the cursor is not one this server gave out", code="bad_cursor") from None
    if tag != _query_tag(query):
        raise BadQuery("the cursor belongs to a different query", code="bad_cursor")
    return key

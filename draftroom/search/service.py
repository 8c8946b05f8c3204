"""The search feature: keeps the index behind the store, and answers queries.

Indexing is off the edit path. ``on_room_advance`` runs on it, so it only notes the
document id; a background task waits ``debounce`` seconds so a burst of keystrokes
becomes one indexing pass, then indexes each noted document: claim it, load it
from the store, flatten it and cut it into sections in a worker thread, and write
the sections that changed (``engine.py``): the terms of an unchanged section are
neither recomputed nor rewritten.

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
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from draftroom.auth.principal import Principal
from draftroom.crdt.room import Room
from draftroom.errors import Forbidden
from draftroom.features import BaseFeature
from draftroom.search.engine import Engine, Key
from draftroom.search.query import BadQuery, Query, parse
from draftroom.search.snippet import PATH_SEPARATOR, matcher, snippet, title_parts
from draftroom.search.text import IndexEntry, entry_from_state, layout_from_json
from draftroom.store.base import Store
from draftroom.worker_exit import tie_to_parent

log = logging.getLogger(__name__)

# Rest after a pass, in multiples of how long it took: a duty cycle of 1 / (1 + 4).
REST_FACTOR = 4

MAX_LIMIT = 50


def engine_for(store: Store) -> Engine:
    if store.dialect == "postgres":
        from draftroom.search.postgres import PostgresEngine

        return PostgresEngine(store.sql)
    from draftroom.search.sqlite import FTS5Engine

    return FTS5Engine(store.sql)


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
    ) -> None:
        self.store = store
        self.engine: Engine = engine_for(store)
        self._node_id = node_id
        self.debounce = debounce
        self.sweep_seconds = sweep_seconds
        self.lease_seconds = lease_seconds
        self.batch = batch
        self.indexing = indexing
        self.flatten = Flattener(workers)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # index writes this node made (for /metrics-style checks)

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

    async def _run(self) -> None:
        next_sweep = 0.0
        sweeps = 0
        last_pass = 0.0
        while True:
            try:
                timeout = max(0.0, next_sweep - time.monotonic())
                debounce = 0.0
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                    debounce = self.debounce  # coalesce a burst of edits
                except TimeoutError:
                    pass
                # Rest REST_FACTOR times as long as the last pass took, on the sweep's
                # path too (busy documents are stale at every sweep): indexing takes at
                # most a fifth of the node's time, so under load results get older and
                # acks and fan-out do not (docs/BENCHMARKS.md, paired runs).
                await asyncio.sleep(max(debounce, last_pass * REST_FACTOR))
                began = time.monotonic()
                self._wake.clear()
                todo, self._dirty = self._dirty, set()
                if time.monotonic() >= next_sweep:
                    todo.update(await self.engine.stale(time.time(), self.batch))
                    next_sweep = time.monotonic() + self.sweep_seconds
                    sweeps += 1
                    if sweeps % 60 == 0:
                        await self.engine.remove_orphans()
                for doc_id in sorted(todo):
                    try:
                        await self.index(doc_id)
                    except Exception:  # one bad document must not hold up the others
                        log.exception("search: indexing %s failed; the sweep retries", doc_id)
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
        meta = await self.store.get_document(doc_id)
        if meta is None:
            await self.engine.remove(doc_id)
            return False
        node = self._node_id()
        held = await self.engine.claim(doc_id, node, time.time(), self.lease_seconds)
        if held is None:
            return False  # another node is on it; the sweep retries if it dies
        try:
            state = await self.store.load(doc_id)
            if held["indexed_version"] >= state.seq and held["title"] == meta.title:
                await self.engine.release(doc_id, node)
                return False
            # A forgotten document (reindex) is rebuilt whole; otherwise only the
            # sections whose key the index does not hold get their terms computed.
            known = (
                frozenset(layout_from_json(held.get("sections") or "[]"))
                if held["indexed_version"] >= 0
                else frozenset()
            )
            entry = await self.flatten(meta.title, state.snapshot, state.updates, known)
            wrote = await self.engine.write(doc_id, node, state.seq, entry, time.time())
        except BaseException:
            await asyncio.shield(self.engine.release(doc_id, node))
            raise
        if wrote:
            self.writes += 1
            log.debug("search: node %s indexed %s at version %d", node, doc_id, state.seq)
        return wrote

    async def remove(self, doc_id: str) -> None:
        """A deleted document leaves the index in the delete request itself."""
        self._dirty.discard(doc_id)
        await self.engine.remove(doc_id)

    # -- queries --------------------------------------------------------------------------

    async def search(
        self, principal: Principal, text: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        reader = _reader(principal)
        query = parse(text)
        after = _decode_cursor(cursor, query) if cursor else None
        ranked = await self.engine.rank(query, reader, limit, after)
        stored = await self.engine.stored(ranked)
        found = matcher(query)
        results = []
        for hit in ranked:
            row = stored.get(hit.doc_id)
            if row is None:  # deleted or re-indexed between the two reads
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


class Flattener:
    """Builds index entries off the event loop: in a thread, or in worker processes.

    Flattening and folding a 50 KB document is pure Python for a few milliseconds. In
    a thread it holds the GIL against the event loop, which is the edit path (acks,
    fan-out); a process (``--search-workers 1``) leaves the loop alone. The thread is
    the default for now: with a worker process, stopping an in-process test server
    intermittently stalled for 30 s (PostgreSQL store, cause not yet found).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 0 and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=tie_to_parent,
                initargs=(os.getpid(),),
            )

    async def __call__(
        self, title: str, snapshot: bytes | None, updates: list[bytes], known: frozenset[str]
    ) -> IndexEntry:
        if self._pool is None:
            return await asyncio.to_thread(entry_from_state, title, snapshot, updates, known)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, entry_from_state, title, snapshot, updates, known
            )
        except BrokenProcessPool:  # the worker died (killed, out of memory): a new one
            log.error("search worker process died; restarting it")
            self.close()
            self.start()
            return await asyncio.to_thread(entry_from_state, title, snapshot, updates, known)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


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

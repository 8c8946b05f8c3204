"""Embedded SQLite store: the zero-setup default, one file in ``--data-dir``.

SQLite has one writer, so every statement runs on one dedicated thread with one
connection; the event loop never blocks on disk. WAL with ``synchronous=FULL``
makes each group commit durable before its appends are acknowledged.

``reads`` runs long read-only queries (search) on ``READERS`` read-only connections,
each on a thread of its own: in WAL mode a reader neither waits for the writer nor
holds it up, so a slow search does not sit in the writer thread's queue in front of
the edit path's group commits (their acks), nor, with several, in front of the other
searches (20 searchers at 100,000 documents queued behind one slow query). Python's
sqlite3 releases the GIL while a statement runs, so they also use a second core.
Each statement is its own read transaction, so it sees everything committed before
the statement began.

``index_sql`` is the search index's own file (``search.db``, see ``sqlite_index``) on
another connection and thread: index writes take neither this file's write lock nor
the writer thread, so they never queue in front of an edit's commit. Each reader
attaches it read-only, so a search sees the index and the access tables together.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import draftroom.store.sqlite_index as sqlite_index
from draftroom.store.base import (
    CompactionResult,
    DocumentMeta,
    StoredState,
    StoreError,
    StoreStats,
    document_order,
)
from draftroom.store.compaction import merge
from draftroom.store.group_commit import GroupCommitter
from draftroom.store.migrations import load_migrations
from draftroom.store.sql import SQLiteSQL, rollback

T = TypeVar("T")

READERS = 4
"""Read-only connections (and threads) for ``reads``."""

_META_COLUMNS = "id, title, created_at, updated_at, size_bytes, seq"
_BUMP_SEQ = """
INSERT INTO documents (id, created_at, updated_at, seq, size_bytes) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE
   SET seq = seq + excluded.seq,
       size_bytes = size_bytes + excluded.size_bytes,
       updated_at = excluded.updated_at
RETURNING seq
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _meta(row: tuple) -> DocumentMeta:
    return DocumentMeta(
        id=row[0],
        title=row[1],
        created_at=datetime.fromisoformat(row[2]),
        updated_at=datetime.fromisoformat(row[3]),
        size_bytes=row[4],
        version=row[5],
    )


class SQLiteStore:
    def __init__(
        self, data_dir: Path | str, *, commit_delay: float = 0.002, max_batch: int = 1000
    ) -> None:
        self.path = Path(data_dir) / "draftroom.sqlite3"
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._compacting: set[str] = set()
        self._compaction_lock = threading.Lock()
        self.committer = GroupCommitter(
            self._write_batch, max_delay=commit_delay, max_batch=max_batch
        )
        self._sql = SQLiteSQL(self._run, lambda: self.db)
        self._reader: ThreadPoolExecutor | None = None
        self._reader_dbs: list[sqlite3.Connection] = []
        # A job takes a free connection for its whole run: as many as threads, so it
        # never waits for one.
        self._free_readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._reading = threading.local()
        self._reads = SQLiteSQL(self._read, lambda: self.reader_db)
        self.index_path = self.path.parent / sqlite_index.FILE_NAME
        self._indexer: ThreadPoolExecutor | None = None
        self._index_db: sqlite3.Connection | None = None
        self._index_sql = SQLiteSQL(self._index, lambda: self.index_db)

    @classmethod
    def from_url(
        cls, url: str, *, data_dir: Path, commit_delay: float = 0.002, max_batch: int = 1000
    ) -> SQLiteStore:
        """``sqlite:`` alone means ``data_dir``; ``sqlite:///abs/dir`` or
        ``sqlite:rel/dir`` name the directory that holds ``draftroom.sqlite3``."""
        path = url.partition(":")[2].removeprefix("//")
        return cls(path or data_dir, commit_delay=commit_delay, max_batch=max_batch)

    def stats(self) -> StoreStats:
        return StoreStats.of(self.committer)

    @property
    def sql(self) -> SQLiteSQL:
        return self._sql

    @property
    def reads(self) -> SQLiteSQL:
        """Read-only statements on the reader connection and thread (see above)."""
        return self._reads

    @property
    def index_reads(self) -> IndexReads:
        """The reads the search indexer makes of the store (documents, their logs), on
        the index's connection and thread, through its read-only attachment of the
        store's file: 200 busy documents are 400 such reads a pass, which on the
        writer thread queued in front of the edit path's commits."""
        return IndexReads(self)

    @property
    def index_sql(self) -> SQLiteSQL:
        """The search index's file (``search.db``) on its own writer connection and
        thread, the store's file attached read-only."""
        return self._index_sql

    dialect = "sqlite"

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await self._on(self._executor, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        return await self._on(self._reader, self._with_reader, fn, *args)

    def _with_reader(self, fn: Callable[..., T], *args: object) -> T:
        db = self._free_readers.get()
        self._reading.db = db
        try:
            return fn(*args)
        finally:
            self._reading.db = None
            self._free_readers.put(db)

    async def _index(self, fn: Callable[..., T], *args: object) -> T:
        return await self._on(self._indexer, fn, *args)

    async def _on(
        self, executor: ThreadPoolExecutor | None, fn: Callable[..., T], *args: object
    ) -> T:
        if executor is None:
            raise StoreError("store is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "used before open()"
        return self._db

    @property
    def reader_db(self) -> sqlite3.Connection:
        """The read-only connection of the ``reads`` job running on this thread."""
        db: sqlite3.Connection | None = getattr(self._reading, "db", None)
        assert db is not None, "used outside a reads job"
        return db

    @property
    def reader_dbs(self) -> tuple[sqlite3.Connection, ...]:
        """Every read-only connection (tests install hooks on them)."""
        return tuple(self._reader_dbs)

    @property
    def index_db(self) -> sqlite3.Connection:
        assert self._index_db is not None, "used before open()"
        return self._index_db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        await self._run(self._connect)
        # After the store's migrations (the sweep joins its tables); an older store's
        # index moves into search.db, and only then leaves the store's file.
        self._indexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-index")
        await self._index(self._connect_index)
        await self._run(sqlite_index.drop_old_index, self.db)
        # After the writer: the file, its WAL and the schema exist for a read-only open.
        self._reader = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="sqlite-read")
        for _ in range(READERS):
            self._free_readers.put(self._connect_reader())
        self.committer.start()

    def _connect_reader(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("ATTACH DATABASE ? AS search", (sqlite_index.uri(self.index_path, "ro"),))
        self._reader_dbs.append(db)
        return db

    def _connect_index(self) -> None:
        self._index_db = sqlite_index.connect(self.index_path, self.path)

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = {r[0] for r in db.execute("SELECT version FROM schema_migrations")}
        for migration in load_migrations("sqlite"):
            if migration.version in applied:
                continue
            # executescript, not a split on ";": comments and string literals may hold one.
            name = migration.name.replace("'", "''")
            try:
                db.executescript(
                    f"BEGIN IMMEDIATE;\n{migration.sql}\n;"
                    f"INSERT INTO schema_migrations VALUES ({migration.version}, '{name}', "
                    f"'{_now()}');\nCOMMIT;"
                )
            except BaseException:
                rollback(db)
                raise
        self._db = db

    async def close(self) -> None:
        await self.committer.close()
        if self._reader is not None:
            self._reader.shutdown(wait=True)  # after the running searches
            self._reader = None
            for db in self._reader_dbs:
                db.close()
            self._reader_dbs.clear()
            self._free_readers = queue.SimpleQueue()
        if self._indexer is not None:
            if self._index_db is not None:
                await self._index(self.index_db.close)
            self._indexer.shutdown(wait=True)
            self._indexer = None
            self._index_db = None
        if self._executor is not None:
            if self._db is not None:
                await self._run(self.db.close)
            self._executor.shutdown(wait=True)
            self._executor = None
            self._db = None

    async def ping(self) -> None:
        await self._run(lambda: self.db.execute("SELECT 1").fetchone())

    # -- the update log -------------------------------------------------------

    def append(self, doc_id: str, update: bytes) -> asyncio.Future[int]:
        return self.committer.submit(doc_id, update)

    async def flush(self) -> None:
        await self.committer.flush()

    async def _write_batch(self, batch: Sequence[tuple[str, bytes]]) -> list[int]:
        return await self._run(self._write_batch_sync, batch)

    def _write_batch_sync(self, batch: Sequence[tuple[str, bytes]]) -> list[int]:
        counts: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for doc_id, update in batch:
            counts[doc_id] = counts.get(doc_id, 0) + 1
            sizes[doc_id] = sizes.get(doc_id, 0) + len(update)
        db = self.db
        now = _now()
        db.execute("BEGIN IMMEDIATE")
        try:
            next_seq = {}
            for doc_id, n in counts.items():
                (last,) = db.execute(_BUMP_SEQ, (doc_id, now, now, n, sizes[doc_id])).fetchone()
                next_seq[doc_id] = last - n + 1
            rows = []
            for doc_id, update in batch:
                rows.append((doc_id, next_seq[doc_id], update))
                next_seq[doc_id] += 1
            db.executemany("INSERT INTO updates (doc_id, seq, data) VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
        return [seq for _, seq, _ in rows]

    async def load(self, doc_id: str) -> StoredState:
        return await self._run(self._load_sync, doc_id)

    def _load_sync(self, doc_id: str, db: sqlite3.Connection | None = None) -> StoredState:
        if db is None:  # the writer thread: no commit can come between the two reads
            return self._load_on(self.db, doc_id)
        # Another connection: one read transaction, so that a compaction committed
        # between the two reads cannot leave out the updates it folded away.
        db.execute("BEGIN")
        try:
            return self._load_on(db, doc_id)
        finally:
            rollback(db)

    def _load_on(self, db: sqlite3.Connection, doc_id: str) -> StoredState:
        snap = db.execute("SELECT seq, data FROM snapshots WHERE doc_id = ?", (doc_id,)).fetchone()
        snapshot_seq = snap[0] if snap else 0
        rows = db.execute(
            "SELECT seq, data FROM updates WHERE doc_id = ? AND seq > ? ORDER BY seq",
            (doc_id, snapshot_seq),
        ).fetchall()
        return StoredState(
            snapshot=snap[1] if snap else None,
            snapshot_seq=snapshot_seq,
            updates=[r[1] for r in rows],
            seq=rows[-1][0] if rows else snapshot_seq,
        )

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        return await self._run(self._updates_since_sync, doc_id, seq)

    def _updates_since_sync(
        self, doc_id: str, seq: int, db: sqlite3.Connection | None = None
    ) -> list[tuple[int, bytes]]:
        return (
            (db or self.db)
            .execute(
                "SELECT seq, data FROM updates WHERE doc_id = ? AND seq > ? ORDER BY seq",
                (doc_id, seq),
            )
            .fetchall()
        )

    async def versions(self, doc_ids: list[str]) -> dict[str, int]:
        def read() -> dict[str, int]:
            marks = ",".join("?" * len(doc_ids))
            rows = self.db.execute(
                f"SELECT id, seq FROM documents WHERE id IN ({marks})", doc_ids
            ).fetchall()
            return dict(rows)

        return await self._run(read) if doc_ids else {}

    async def compact(self, doc_id: str) -> CompactionResult | None:
        with self._compaction_lock:
            if doc_id in self._compacting:
                return None
            self._compacting.add(doc_id)
        try:
            state = await self.load(doc_id)
            if not state.updates:
                return None
            await self._before_compaction_write(doc_id)
            # Merge off the database thread so appends keep committing meanwhile.
            data = await asyncio.to_thread(merge, state.snapshot, state.updates)
            return await self._run(self._write_snapshot, doc_id, state, data)
        finally:
            self._compacting.discard(doc_id)

    def _write_snapshot(self, doc_id: str, state: StoredState, data: bytes) -> CompactionResult:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO snapshots (doc_id, seq, data, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (doc_id) DO UPDATE SET seq = excluded.seq, data = excluded.data,"
                " created_at = excluded.created_at",
                (doc_id, state.seq, data, _now()),
            )
            db.execute("DELETE FROM updates WHERE doc_id = ? AND seq <= ?", (doc_id, state.seq))
            row = db.execute(
                "UPDATE documents SET size_bytes = size_bytes - ? + ? WHERE id = ?"
                " RETURNING size_bytes",
                (state.size_bytes, len(data), doc_id),
            ).fetchone()
            db.execute("COMMIT")
        except BaseException:
            rollback(db)
            raise
        remaining = (row[0] if row else len(data)) - len(data)
        return CompactionResult(state.seq, len(data), max(remaining, 0))

    async def _before_compaction_write(self, doc_id: str) -> None:
        """Test hook: runs after compaction has read the log, before it writes."""

    # -- metadata -------------------------------------------------------------

    async def list_documents(
        self, limit: int, offset: int, sort: str = "updated_at", descending: bool = True
    ) -> list[DocumentMeta]:
        order = document_order(sort, descending)

        def read() -> list[DocumentMeta]:
            rows = self.db.execute(
                f"SELECT {_META_COLUMNS} FROM documents {order} LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            return [_meta(r) for r in rows]

        return await self._run(read)

    async def get_document(self, doc_id: str) -> DocumentMeta | None:
        return await self._run(self._get_document_sync, doc_id)

    def _get_document_sync(
        self, doc_id: str, db: sqlite3.Connection | None = None
    ) -> DocumentMeta | None:
        row = (
            (db or self.db)
            .execute(f"SELECT {_META_COLUMNS} FROM documents WHERE id = ?", (doc_id,))
            .fetchone()
        )
        return _meta(row) if row else None

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        def write() -> DocumentMeta | None:
            now = _now()
            row = self.db.execute(
                "INSERT INTO documents (id, title, created_at, updated_at) SELECT ?1, ?2, ?3, ?3"
                " WHERE NOT EXISTS (SELECT 1 FROM document_tombstones WHERE id = ?1)"
                f" ON CONFLICT (id) DO NOTHING RETURNING {_META_COLUMNS}",
                (doc_id, title, now),
            ).fetchone()
            return _meta(row) if row else None

        return await self._run(write)

    async def update_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        def write() -> DocumentMeta | None:
            row = self.db.execute(
                f"UPDATE documents SET title = ?, updated_at = ? WHERE id = ?"
                f" RETURNING {_META_COLUMNS}",
                (title, _now(), doc_id),
            ).fetchone()
            return _meta(row) if row else None

        return await self._run(write)

    async def delete_document(self, doc_id: str) -> bool:
        def write() -> bool:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM updates WHERE doc_id = ?", (doc_id,))
                db.execute("DELETE FROM snapshots WHERE doc_id = ?", (doc_id,))
                gone = db.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
                db.execute(
                    "INSERT INTO document_tombstones (id, deleted_at) VALUES (?, ?)"
                    " ON CONFLICT (id) DO NOTHING",
                    (doc_id, time.time()),
                )
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise
            return gone > 0

        return await self._run(write)

    async def is_deleted(self, doc_id: str) -> bool:
        def read() -> bool:
            row = self.db.execute(
                "SELECT 1 FROM document_tombstones WHERE id = ?", (doc_id,)
            ).fetchone()
            return row is not None

        return await self._run(read)


class IndexReads:
    """``SQLiteStore.index_reads``: the store's own reads, on the index's thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def get_document(self, doc_id: str) -> DocumentMeta | None:
        store = self._store
        return await store._index(store._get_document_sync, doc_id, store.index_db)

    async def load(self, doc_id: str) -> StoredState:
        store = self._store
        return await store._index(store._load_sync, doc_id, store.index_db)

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        store = self._store
        return await store._index(store._updates_since_sync, doc_id, seq, store.index_db)

    # Called inside a job on the index's thread (``index_sql.on_thread``): the indexer
    # reads and claims a group of documents in one hop, not one hop per statement.

    def get_document_now(self, doc_id: str) -> DocumentMeta | None:
        return self._store._get_document_sync(doc_id, self._store.index_db)

    def updates_since_now(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        return self._store._updates_since_sync(doc_id, seq, self._store.index_db)

"""What every store provides: an append-only update log per document, snapshots,
and document metadata.

The log is the source of truth. Each append gets the next per-document sequence
number (the document's *version*), assigned inside the committing transaction, so
versions are dense and gap detection across nodes is possible. A snapshot covers
the log up to ``snapshot_seq``; loading reads the snapshot plus the tail after it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from draftroom.store.group_commit import GroupCommitter

from draftroom.times import iso

if TYPE_CHECKING:
    from draftroom.store.group_commit import GroupCommitter

# Room names arrive in URLs from any y-websocket client; keep them printable and
# bounded so they are safe as keys, channel names and file names.
DOC_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:@/-]{0,199}")


def valid_doc_id(doc_id: str) -> bool:
    # fullmatch: with match and "$", "book\n" would pass, and no URL could reach it.
    return bool(DOC_ID_RE.fullmatch(doc_id)) and "//" not in doc_id and ".." not in doc_id


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    size_bytes: int
    version: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "size_bytes": self.size_bytes,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class StoredState:
    """A document as stored: the snapshot (if any) and the log after it."""

    snapshot: bytes | None
    snapshot_seq: int
    updates: list[bytes]
    seq: int  # the last sequence number included

    @property
    def size_bytes(self) -> int:
        return len(self.snapshot or b"") + sum(len(u) for u in self.updates)


@dataclass(frozen=True, slots=True)
class CompactionResult:
    snapshot_seq: int
    snapshot_bytes: int
    remaining_bytes: int  # log entries appended after the snapshot point


class StoreError(RuntimeError):
    """The store could not complete an operation (unreachable, failed commit)."""


Row = dict[str, Any]

# What a document list may be sorted by. Pages are cut from one total order, so paging
# never repeats or skips a document that did not change meanwhile.
DOCUMENT_SORTS = ("title", "created_at", "updated_at")


def document_order(sort: str, descending: bool, table: str = "documents") -> str:
    """The ORDER BY clause (portable to both stores) of a document list.

    Titles compare case-blind (``lower``). Ties, and the empty titles of untitled
    documents, fall back to the id, ascending in both directions: a total order, so
    LIMIT/OFFSET pages never overlap. SQLite keeps times as ISO 8601 text in UTC,
    which sorts like the times themselves.
    """
    if sort not in DOCUMENT_SORTS:
        raise ValueError(f"cannot sort documents by {sort!r}")
    key = f"lower({table}.title)" if sort == "title" else f"{table}.{sort}"
    return f"ORDER BY {key} {'DESC' if descending else 'ASC'}, {table}.id ASC"


class SQL(Protocol):
    """Plain queries for features that keep their own tables (sessions, caches, usage).

    Queries use PostgreSQL's ``$1`` placeholders and a portable subset of SQL
    (``ON CONFLICT``, ``RETURNING``; no ``now()``: pass times as parameters,
    stored as epoch seconds in ``double precision`` / ``REAL`` columns). SQLite
    runs them with ``$n`` rewritten to ``?n``. Each call is its own transaction.
    """

    async def execute(self, query: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""

    async def fetch(self, query: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: Any) -> Row | None: ...

    async def executemany(self, query: str, rows: list[tuple[Any, ...]]) -> None: ...


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What telemetry and benchmarks read from a store, without reaching into it."""

    appends: int  # committed since open()
    commit_batches: int
    commit_failures: int
    pending_appends: int  # queued or being written right now
    last_batch_size: int = 0
    last_commit_seconds: float = 0.0
    pool_size: int | None = None  # open database connections; None: no pool
    pool_idle: int | None = None
    search_pool_size: int | None = None  # the searches' own pool (PostgreSQL)
    search_pool_idle: int | None = None

    @classmethod
    def of(
        cls,
        committer: GroupCommitter,
        *,
        pool_size: int | None = None,
        pool_idle: int | None = None,
        search_pool_size: int | None = None,
        search_pool_idle: int | None = None,
    ) -> StoreStats:
        c = committer.stats
        return cls(
            appends=c.appends,
            commit_batches=c.batches,
            commit_failures=c.failures,
            pending_appends=committer.pending,
            last_batch_size=c.last_batch_size,
            last_commit_seconds=c.last_commit_seconds,
            pool_size=pool_size,
            pool_idle=pool_idle,
            search_pool_size=search_pool_size,
            search_pool_idle=search_pool_idle,
        )


class StoreClass(Protocol):
    """A store implementation as registered in ``draftroom.store.STORES``."""

    @classmethod
    def from_url(
        cls, url: str, *, data_dir: Path, commit_delay: float, max_batch: int
    ) -> Store: ...


class Store(Protocol):
    """The contract tested by tests/store/test_contract.py against every store."""

    dialect: str  # "postgres" or "sqlite"
    committer: GroupCommitter  # appends queue here: its backlog and health (readiness)

    @property
    def sql(self) -> SQL: ...

    async def open(self) -> None:
        """Connect and apply pending schema migrations."""

    async def close(self) -> None:
        """Flush pending appends, then disconnect."""

    def stats(self) -> StoreStats:
        """Counters for telemetry; cheap, and safe to call at any time."""

    async def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def append(self, doc_id: str, update: bytes) -> asyncio.Future[int]:
        """Queue one update; the future resolves to its sequence number once committed.

        Appends are group-committed: concurrent calls share one transaction. A plain
        future rather than a coroutine, so the edit path can attach a callback
        without scheduling a task per keystroke.
        """

    async def flush(self) -> None:
        """Return once every append issued before the call is committed."""

    async def load(self, doc_id: str) -> StoredState:
        """The snapshot and log tail of a document (empty if it does not exist)."""

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        """Log entries with sequence numbers above ``seq``, in order.

        Entries already folded into a snapshot are gone; callers that fall that far
        behind reload the whole document instead.
        """

    async def versions(self, doc_ids: list[str]) -> dict[str, int]:
        """The committed version (last seq) of each existing document."""

    async def compact(self, doc_id: str) -> CompactionResult | None:
        """Merge the log into the snapshot. Safe against concurrent appends.

        Returns None when another worker holds the document's compaction lock or
        there is nothing to compact.
        """

    async def list_documents(
        self, limit: int, offset: int, sort: str = "updated_at", descending: bool = True
    ) -> list[DocumentMeta]:
        """A page of every document in ``document_order(sort, descending)``."""

    async def get_document(self, doc_id: str) -> DocumentMeta | None: ...

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        """Create an empty document; None if the id is taken or was ever deleted."""

    async def update_document(self, doc_id: str, title: str) -> DocumentMeta | None: ...

    async def delete_document(self, doc_id: str) -> bool:
        """Remove the document and leave a tombstone: the id can never be created again."""

    async def is_deleted(self, doc_id: str) -> bool:
        """True if ``doc_id`` was deleted (has a tombstone)."""

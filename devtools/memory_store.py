"""The ``Store`` protocol in memory, so rooms can be unit-tested without a database.

Commits are in the test's hands: by default each append commits on the next loop turn
(like a group commit), but ``hold()`` keeps appends pending until ``commit()`` or
``fail()``, so a test can see what a room does before, at and after the commit. Sequence
numbers are dense per document, as in the real stores. There is no SQL: features that
keep their own tables need a real store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc

from draftroom.store.base import (
    SQL,
    CompactionResult,
    DocumentMeta,
    StoredState,
    StoreError,
    StoreStats,
)


@dataclass
class _Document:
    title: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    snapshot: bytes | None = None
    snapshot_seq: int = 0
    log: list[tuple[int, bytes]] = field(default_factory=list)  # after the snapshot
    seq: int = 0


class MemoryStore:
    dialect = "memory"

    def __init__(self) -> None:
        self.docs: dict[str, _Document] = {}
        self.pending: list[tuple[str, bytes, asyncio.Future[int]]] = []
        self.held = False
        self.appends = 0

    @property
    def sql(self) -> SQL:
        raise StoreError("the in-memory store has no SQL")

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        self.commit()

    async def ping(self) -> None:
        pass

    def stats(self) -> StoreStats:
        return StoreStats(
            appends=self.appends,
            commit_batches=0,
            commit_failures=0,
            pending_appends=len(self.pending),
        )

    # -- the log ---------------------------------------------------------------

    def hold(self) -> None:
        """Keep appends pending until commit() or fail()."""
        self.held = True

    def append(self, doc_id: str, update: bytes) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending.append((doc_id, update, future))
        self.appends += 1
        if not self.held:
            asyncio.get_running_loop().call_soon(self.commit)
        return future

    def commit(self) -> None:
        """Commit every pending append, in order."""
        pending, self.pending = self.pending, []
        for doc_id, update, future in pending:
            doc = self.docs.setdefault(doc_id, _Document(title=doc_id))
            doc.seq += 1
            doc.log.append((doc.seq, update))
            doc.updated_at = datetime.now(UTC)
            if not future.done():
                future.set_result(doc.seq)

    def fail(self, message: str = "disk on fire") -> None:
        """Fail every pending append, as a lost database would."""
        pending, self.pending = self.pending, []
        for _, _, future in pending:
            if not future.done():
                future.set_exception(StoreError(message))

    async def flush(self) -> None:
        self.commit()

    async def load(self, doc_id: str) -> StoredState:
        doc = self.docs.get(doc_id)
        if doc is None:
            return StoredState(None, 0, [], 0)
        return StoredState(doc.snapshot, doc.snapshot_seq, [u for _, u in doc.log], doc.seq)

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        doc = self.docs.get(doc_id)
        return [(s, u) for s, u in doc.log if s > seq] if doc else []

    async def versions(self, doc_ids: list[str]) -> dict[str, int]:
        return {d: self.docs[d].seq for d in doc_ids if d in self.docs}

    async def compact(self, doc_id: str) -> CompactionResult | None:
        doc = self.docs.get(doc_id)
        if doc is None or not doc.log:
            return None
        merged: Doc[Any] = Doc()
        for update in ([doc.snapshot] if doc.snapshot else []) + [u for _, u in doc.log]:
            merged.apply_update(update)
        doc.snapshot, doc.snapshot_seq, doc.log = merged.get_update(), doc.seq, []
        return CompactionResult(doc.snapshot_seq, len(doc.snapshot), 0)

    # -- metadata --------------------------------------------------------------

    def _meta(self, doc_id: str, doc: _Document) -> DocumentMeta:
        size = len(doc.snapshot or b"") + sum(len(u) for _, u in doc.log)
        return DocumentMeta(doc_id, doc.title, doc.created_at, doc.updated_at, size, doc.seq)

    async def list_documents(
        self, limit: int, offset: int, sort: str = "updated_at", descending: bool = True
    ) -> list[DocumentMeta]:
        metas = sorted((self._meta(d, doc) for d, doc in self.docs.items()), key=lambda m: m.id)
        key = (lambda m: m.title.lower()) if sort == "title" else (lambda m: getattr(m, sort))
        metas.sort(key=key, reverse=descending)  # stable: ties keep the id order
        return metas[offset : offset + limit]

    async def get_document(self, doc_id: str) -> DocumentMeta | None:
        doc = self.docs.get(doc_id)
        return self._meta(doc_id, doc) if doc else None

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        if doc_id in self.docs:
            return None
        self.docs[doc_id] = _Document(title=title)
        return self._meta(doc_id, self.docs[doc_id])

    async def update_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        doc = self.docs.get(doc_id)
        if doc is None:
            return None
        doc.title, doc.updated_at = title, datetime.now(UTC)
        return self._meta(doc_id, doc)

    async def delete_document(self, doc_id: str) -> bool:
        return self.docs.pop(doc_id, None) is not None

"""An in-memory Store and Bus and a recording Peer: a Room without a server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from draftroom.bus.base import Envelope
from draftroom.crdt.room import Room, RoomLimits
from draftroom.crdt.update_check import DepthIndex
from draftroom.document.load import build_doc
from draftroom.store.base import SQL, CompactionResult, DocumentMeta, StoredState


class MemoryStore:
    """Store's append/load/updates_since, committed at once (no group commit)."""

    dialect = "sqlite"

    def __init__(self) -> None:
        self.logs: dict[str, list[bytes]] = {}

    @property
    def sql(self) -> SQL:
        raise NotImplementedError

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    def append(self, doc_id: str, update: bytes) -> asyncio.Future[int]:
        log = self.logs.setdefault(doc_id, [])
        log.append(update)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(len(log))
        return future

    async def flush(self) -> None: ...

    async def load(self, doc_id: str) -> StoredState:
        log = list(self.logs.get(doc_id, []))
        return StoredState(None, 0, log, len(log))

    async def updates_since(self, doc_id: str, seq: int) -> list[tuple[int, bytes]]:
        return list(enumerate(self.logs.get(doc_id, []), start=1))[seq:]

    async def versions(self, doc_ids: list[str]) -> dict[str, int]:
        return {d: len(self.logs[d]) for d in doc_ids if d in self.logs}

    async def compact(self, doc_id: str) -> CompactionResult | None:
        return None

    async def list_documents(
        self, limit: int, offset: int, sort: str = "updated_at", descending: bool = True
    ) -> list[DocumentMeta]:
        return []

    async def get_document(self, doc_id: str) -> DocumentMeta | None:
        return None

    async def create_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        return None

    async def update_document(self, doc_id: str, title: str) -> DocumentMeta | None:
        return None

    async def delete_document(self, doc_id: str) -> bool:
        return False


class NullBus:
    node_id = "test-node"

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)


@dataclass(eq=False)
class FakePeer:
    app_messages: bool = True
    read_only: bool = False
    role: str | None = "editor"
    user: str | None = "tester"
    awareness_ids: set[int] = field(default_factory=set)
    updates_received: int = 0
    sent: list[bytes] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def ack(self, upto: int, version: int) -> None:
        self.acks.append((upto, version))

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def open_room(store: MemoryStore, doc_id: str = "doc", **limits: Any) -> Room:
    """A Room loaded from ``store`` the way Rooms._open loads one."""
    state = await store.load(doc_id)
    depths = DepthIndex()
    doc = build_doc(state.snapshot, state.updates, depths)
    room_limits = RoomLimits(
        max_document_bytes=limits.get("max_document_bytes", 64 * 1024 * 1024),
        compact_after=limits.get("compact_after", 10**9),
    )
    return Room(
        doc_id,
        doc,
        version=state.seq,
        snapshot_seq=state.snapshot_seq,
        size_bytes=state.size_bytes,
        store=store,  # type: ignore[arg-type]
        limits=room_limits,
        bus=NullBus(),  # type: ignore[arg-type]
        depths=depths,
    )

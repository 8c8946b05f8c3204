"""A recording Peer and Bus, and a Room loaded from the in-memory store: a Room
without a server. The store itself is ``devtools.memory_store`` (benches use it too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from devtools.memory_store import MemoryStore
from draftroom.bus.base import Envelope
from draftroom.crdt.protocol import MessageType, SyncType
from draftroom.crdt.room import Room, RoomLimits
from draftroom.crdt.update_check import DepthIndex
from draftroom.document.load import build_doc


@dataclass(eq=False)
class FakePeer:
    """What a room sees of a connection, with everything it is sent kept for checking."""

    app_messages: bool = True
    read_only: bool = False
    role: str | None = "editor"
    user: str | None = "ada"
    awareness_ids: set[int] = field(default_factory=set)
    updates_received: int = 0
    frames: list[bytes] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def ack(self, upto: int, version: int) -> None:
        self.acks.append((upto, version))

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def updates(self) -> list[bytes]:
        return [f for f in self.frames if f[:2] == bytes((MessageType.SYNC, SyncType.UPDATE))]

    def app(self) -> list[dict[str, Any]]:
        return [msgpack.unpackb(f[1:]) for f in self.frames if f[0] == MessageType.DRAFTROOM]


class RecordingBus:
    node_id = "node-a"

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)


def seed(store: MemoryStore, doc_id: str, updates: list[bytes]) -> None:
    """Updates stored before the test, committed (called inside a running loop)."""
    for update in updates:
        store.append(doc_id, update)
    store.commit()


async def open_room(store: MemoryStore, doc_id: str = "doc", **limits: Any) -> Room:
    """A Room loaded from what ``store`` has committed, the way Rooms._open loads one."""
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
        bus=RecordingBus(),  # type: ignore[arg-type]
        depths=depths,
    )

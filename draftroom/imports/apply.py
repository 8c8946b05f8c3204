"""An imported document goes in as an edit by a server-side peer, like a client's.

The peer joins the document's room with a fresh Yjs client id and hands its update
to ``Room.edit``: validated, group-committed, fanned out to the open editors on
this node and, after commit, to other nodes, then acknowledged. The HTTP answer
waits for that acknowledgement, so an import that was answered is durable.

``replace`` deletes what the document held when the import was computed and
inserts the imported blocks; ``append`` adds them after the last block. Both are
one Yjs transaction. Writers typing meanwhile keep their text: a CRDT merge keeps
concurrent insertions, so what they typed while the file was parsed survives a
replace (next to the imported content) rather than being overwritten.

Parsing and building the update run in a worker thread: neither touches the
room's Doc (pycrdt documents are not shared across threads); the thread works on
a copy made from the room's encoded state.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pycrdt import Doc

from draftroom.crdt.protocol import CloseCode, SyncMessage, SyncType, encode_sync
from draftroom.crdt.rooms import Rooms
from draftroom.document.build import append_content, replace_content
from draftroom.document.tree import Block, Document
from draftroom.errors import Rejected, Unavailable
from draftroom.imports import ImportLimits, parse_file
from draftroom.imports.errors import TooBig

MODES = ("create", "replace", "append")
# Parses at once per process: each holds a file and its tree in memory. A thread
# semaphore (taken in the worker thread), so it belongs to no event loop.
_PARSING = threading.BoundedSemaphore(2)


class ImportPeer:
    """A Peer (see crdt/room.py) with no socket: frames to it are dropped, the ack kept."""

    def __init__(self, user: str | None, username: str | None, role: str | None) -> None:
        self.app_messages = True  # so the room acknowledges the edit with its version
        self.awareness_ids: set[int] = set()
        self.updates_received = 0
        # Who imports, as room hooks see any writer: the caller's id, name and role.
        self.user = user
        self.username = username
        self.read_only = False  # write access was checked before the peer was made
        self.role = role
        self.client_id = random.getrandbits(32)
        self.saved: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def send(self, frame: bytes) -> None:
        pass

    def ack(self, upto: int, version: int) -> None:
        if not self.saved.done():
            self.saved.set_result(version)

    def close(self, code: int, reason: str) -> None:
        if not self.saved.done():
            self.saved.set_exception(Unavailable(f"the document closed: {reason}"))


@dataclass(frozen=True, slots=True)
class Applied:
    version: int  # the document's version once the import was saved
    client_id: int  # the Yjs client id the import was written as
    update_bytes: int


async def parse_off_loop(data: bytes, fmt: str, limits: ImportLimits, title: str) -> Document:
    return await asyncio.to_thread(_parse, data, fmt, limits, title)


def _parse(data: bytes, fmt: str, limits: ImportLimits, title: str) -> Document:
    with _PARSING:
        return parse_file(data, fmt, limits, title)


def edit_update(state: bytes, blocks: Sequence[Block], mode: str, client_id: int) -> bytes:
    """The update that replaces (or appends to) the document whose state is ``state``."""
    copy: Doc = Doc(client_id=client_id)
    if state:
        copy.apply_update(state)
    before = copy.get_state()
    if mode == "append":
        append_content(copy, blocks)
    else:
        replace_content(copy, blocks)
    return copy.get_update(before)


async def apply_import(
    rooms: Rooms,
    doc_id: str,
    blocks: Sequence[Block],
    mode: str,
    *,
    user: str | None,
    username: str | None,
    role: str | None,
) -> Applied:
    """Write ``blocks`` into the document through its room, as ``user`` (named
    ``username``, with ``role`` on the document); returns once saved."""
    peer = ImportPeer(user, username, role)
    room = await rooms.join(doc_id, peer)
    try:
        state = room.doc.get_update()
        update = await asyncio.to_thread(edit_update, state, blocks, mode, peer.client_id)
        await room.room_to_edit()  # a full commit queue holds imports back like writers
        if room.closed:
            raise Unavailable("the document was closed during the import; nothing was changed")
        try:
            room.edit(
                peer, encode_sync(SyncType.UPDATE, update), SyncMessage(SyncType.UPDATE, update)
            )
        except Rejected as exc:
            if exc.close_code == CloseCode.DOCUMENT_TOO_LARGE:
                raise TooBig(
                    "the document would be over its size limit with this import; "
                    "nothing was changed",
                    code="document_too_large",
                ) from None
            raise Unavailable(f"the import was not applied: {exc.message}") from None
        version = await peer.saved
        return Applied(version, peer.client_id, len(update))
    finally:
        rooms.leave(room, peer)

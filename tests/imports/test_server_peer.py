"""The import's server-side peer: it writes as the caller (id, name, role), and a full
commit queue holds it back as it holds back a client's reader."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from pycrdt import Doc, Text

from devtools.inprocess import make_settings
from draftroom.crdt.room import Peer, Room
from draftroom.document.tree import Paragraph
from draftroom.document.tree import Text as Run
from draftroom.features import BaseFeature
from draftroom.imports.apply import apply_import
from draftroom.node import Node


class Writers(BaseFeature):
    """Records who wrote to a room, as every room hook sees them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, str | None]] = []

    def on_peer_leave(self, room: Room, peer: Peer) -> None:
        self.seen.append((peer.user, peer.username, peer.role))


def blocks(text: str) -> list[Paragraph]:
    return [Paragraph([Run(text)])]


def an_update(n: int) -> bytes:
    doc = Doc()
    doc["t"] = text = Text()
    text += f"edit {n}"
    return doc.get_update()


async def test_the_import_writes_as_the_caller_with_their_name_and_role(tmp_path: Path) -> None:
    node = Node(make_settings(tmp_path))
    writers = Writers()
    node.install([writers])
    await node.start()
    try:
        await apply_import(
            node.rooms, "book", blocks("Hello"), "replace", user="u1", username="ann", role="owner"
        )
    finally:
        await node.stop()
    assert writers.seen == [("u1", "ann", "owner")]


async def test_a_full_commit_queue_holds_the_import_back(tmp_path: Path) -> None:
    node = Node(make_settings(tmp_path, commit_queue_max=4))
    await node.start()
    committer = node.store.committer
    try:
        await apply_import(
            node.rooms, "book", blocks("One"), "replace", user="u1", username="ann", role="owner"
        )
        # Another process holds the write lock: commits wait, appends pile up.
        locker = sqlite3.connect(tmp_path / "draftroom.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            saves = [node.store.append("other", an_update(n)) for n in range(4)]
            assert committer.congested
            task = asyncio.create_task(
                apply_import(
                    node.rooms,
                    "book",
                    blocks("Two"),
                    "append",
                    user="u1",
                    username="ann",
                    role="owner",
                )
            )
            await asyncio.sleep(0.5)
            assert not task.done()
            assert committer.pending == 4, "the import was queued past the bound"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await asyncio.gather(*saves)
        applied = await asyncio.wait_for(task, 30)
        assert applied.version == 2
    finally:
        await node.stop()

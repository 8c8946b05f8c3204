"""An agent's edit waits while the commit queue is full, as a client's reader does:
agents are not a way around the bound on unsaved edits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from pycrdt import Doc, Text

from devtools.inprocess import make_settings
from draftroom.agents.base import Requester
from draftroom.agents.editor import Editor
from draftroom.node import Node


def an_update(n: int) -> bytes:
    doc = Doc()
    doc["t"] = text = Text()
    text += f"edit {n}"
    return doc.get_update()


async def test_a_full_commit_queue_holds_the_agents_edit_back(tmp_path: Path) -> None:
    node = Node(make_settings(tmp_path, commit_queue_max=4))
    await node.start()
    committer = node.store.committer
    editor = Editor(node.rooms, node.store.sql)
    try:
        room, peer = await editor.begin("book", "continue", Requester("u1", "ann"))
        # Another process holds the write lock: commits wait, appends pile up.
        locker = sqlite3.connect(tmp_path / "draftroom.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            saves = [node.store.append("other", an_update(n)) for n in range(4)]
            assert committer.congested
            task = asyncio.create_task(editor.apply(room, peer, "Once upon a time.", None, "r1"))
            await asyncio.sleep(0.5)
            assert not task.done()
            assert committer.pending == 4, "the agent's edit was queued past the bound"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await asyncio.gather(*saves)
        applied = await asyncio.wait_for(task, 30)
        assert applied.version == 1
        editor.end(room, peer)
    finally:
        await node.stop()

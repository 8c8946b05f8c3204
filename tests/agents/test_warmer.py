"""The Warmer on its own: it is handed a room lookup, a ``recompute`` and a busy flag,
so its timing rules can be checked without a server (tests/agents/test_warm.py runs
it inside one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from draftroom.agents.builtin.outline import OutlineAgent
from draftroom.agents.builtin.style import StyleAgent
from draftroom.agents.cache.keys import EntryKey
from draftroom.agents.llm.agents import CritiqueAgent
from draftroom.agents.warmer import Warmer
from draftroom.crdt.room import Room


@dataclass
class FakeRoom:
    doc_id: str
    version: int = 1
    closed: bool = False


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.current = "digest-2"

    def __call__(
        self, doc_id: str, room: Room, agent: str, params: dict[str, Any], digest: str
    ) -> tuple[str, Awaitable[None]] | None:
        self.calls.append((doc_id, agent, digest))
        if digest == self.current:
            return None
        return self.current, asyncio.sleep(0)


def key(digest: str) -> EntryKey:
    return EntryKey("outline", "d", digest)


async def test_an_edit_recomputes_what_was_asked_and_nothing_else() -> None:
    rooms = {"d": FakeRoom("d")}
    recompute = Recorder()
    busy = False
    warmer = Warmer(
        lambda doc_id: cast(Room, rooms.get(doc_id)),
        recompute,
        lambda: busy,
        window=60,
        interval=0,
    )
    warmer.asked("d", OutlineAgent(), {}, key("digest-1"))
    warmer.asked("d", CritiqueAgent(), {}, key("digest-1"))  # an LLM agent: never warmed
    warmer.asked("elsewhere", StyleAgent(), {}, key("digest-1"))  # no room open here

    await warmer._look()
    assert recompute.calls == [], "the version has not moved"

    rooms["d"].version = 2
    busy = True
    await warmer._look()
    assert recompute.calls == [], "requests first: every worker is busy"

    busy = False
    await warmer._look()
    assert recompute.calls == [("d", "outline", "digest-1")] and warmer.computed == 1

    rooms["d"].version = 3  # an edit that leaves the text (so the digest) unchanged
    assert warmer.docs["d"].due > 0, "the next pass waits for ten times this one's cost"
    warmer.docs["d"].due = 0
    await warmer._look()
    assert recompute.calls[-1] == ("d", "outline", "digest-2") and warmer.computed == 1

"""A Room refuses hostile updates and presence: the process lives, the store and
other users are untouched, and acknowledged edits stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pycrdt import Doc, Text

import draftroom
from devtools.memory_store import MemoryStore
from devtools.yjs_attacks import (
    alternating_chain,
    concurrent_inserts,
    huge_delete_set,
    many_clients,
    type_chain,
)
from draftroom.crdt import awareness, update_check
from draftroom.crdt import room as room_module
from draftroom.crdt.awareness import encode_update
from draftroom.crdt.protocol import SyncType, encode_awareness, encode_sync
from draftroom.crdt.room import Rejected, Room, RoomLimits

from .fakes import FakePeer, RecordingBus, open_room, seed

TESTS = Path(__file__).resolve().parents[1]

# Run in a child: before the checks existed, each of these killed the process
# (SIGSEGV, nothing logged), which would take the test runner down with it.
_SCENARIO = """
import asyncio, sys
from devtools.yjs_attacks import any_bomb
from crdt.fakes import FakePeer, open_room, seed
from devtools.memory_store import MemoryStore
from draftroom.crdt.protocol import SyncType, encode_sync
from draftroom.crdt.room import Rejected, Room, RoomLimits

async def main(kind):
    store = MemoryStore()
    if kind == "stored":
        seed(store, "doc", [any_bomb(60_000)])
    room = await open_room(store)
    if kind == "stored":
        print("loaded", room.doc.get_update() is not None)
    elif kind == "remote":
        room.remote_update(1, any_bomb(60_000))
        print("remote", room.version)
    else:
        try:
            room.receive(FakePeer(), encode_sync(SyncType.UPDATE, any_bomb(60_000)))
        except Rejected as exc:
            print("rejected", int(exc.close_code), exc.message)
    print("stored", store.appends)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.parametrize("kind", ["client", "stored", "remote"])
def test_a_nesting_bomb_does_not_kill_the_process(kind: str) -> None:
    script = _SCENARIO
    # The repository (draftroom, devtools) and tests/ (crdt.fakes) on the child's path.
    env = {**os.environ, "PYTHONPATH": f"{Path(draftroom.__file__).parents[1]}{os.pathsep}{TESTS}"}
    done = subprocess.run(
        [sys.executable, "-c", script, kind], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    if kind == "client":
        assert "rejected 4422 update refused: value nested deeper than" in done.stdout
        assert "stored 0" in done.stdout
    elif kind == "stored":
        assert "loaded True" in done.stdout
        assert "left a stored update out" in done.stderr
    else:
        assert "remote 1" in done.stdout  # the seq is passed, the bomb is not applied
        assert "refused a stored or relayed update" in done.stderr


def _typed(text: str, client_id: int = 42) -> list[bytes]:
    doc: Doc = Doc(client_id=client_id)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    body = doc.get("t", type=Text)
    for ch in text:
        body += ch
    return updates


async def _reloaded_text(store: MemoryStore) -> str:
    await store.flush()
    reloaded = await open_room(store)
    return str(reloaded.doc.get("t", type=Text))


async def test_nesting_built_over_many_updates_is_refused_and_nothing_is_lost() -> None:
    store = MemoryStore()
    room = await open_room(store)
    writer = FakePeer()
    for update in _typed("kept"):
        room.receive(writer, encode_sync(SyncType.UPDATE, update))
    attacker = FakePeer()
    step, parent, clock = 40, None, 0
    with pytest.raises(Rejected) as refused:
        for _ in range(100):
            update = type_chain(step, client=7, clock=clock, parent=parent)
            room.receive(attacker, encode_sync(SyncType.UPDATE, update))
            parent, clock = (7, clock + step - 1), clock + step
    assert refused.value.close_code == 4422
    assert clock == step * (update_check.MAX_TYPE_DEPTH // step)  # refused at the bound
    assert room.depths.max_level <= update_check.MAX_TYPE_DEPTH
    # What was stored reloads (depth within the bound), with the writer's text.
    assert await _reloaded_text(store) == "kept"
    assert store.appends == 4 + update_check.MAX_TYPE_DEPTH // step


@pytest.mark.serial
async def test_concurrent_insert_flood_is_refused_and_what_passes_is_cheap() -> None:
    store = MemoryStore()
    room = await open_room(store)
    attacker = FakePeer()
    with pytest.raises(Rejected) as refused:
        room.receive(attacker, encode_sync(SyncType.UPDATE, concurrent_inserts(10_000, client=5)))
    assert refused.value.close_code == 4422
    assert store.appends == 0
    # The largest such updates allowed, one after another from new clients: each
    # costs a bounded time, until the conflicts they pile up refuse the next.
    worst = 0.0
    with pytest.raises(Rejected, match="conflict comparisons") as refused:
        for client in range(5, 100):
            update = concurrent_inserts(update_check.MAX_UNANCHORED, client)
            started = time.perf_counter()
            room.receive(attacker, encode_sync(SyncType.UPDATE, update))
            worst = max(worst, time.perf_counter() - started)
    assert refused.value.close_code == 4422
    assert client == 6  # 500 then 500 more at the same place: 125,000 then 375,000
    assert worst < 0.25, worst  # ~10 ms measured; two of 10,000 took 8 s
    # One more item there is still fine (a real user typing at that spot).
    room.receive(attacker, encode_sync(SyncType.UPDATE, concurrent_inserts(1, 200)))


async def test_updates_depending_on_unknown_content_are_refused() -> None:
    store = MemoryStore()
    room = await open_room(store)
    dangling = type_chain(2, 3, parent=(99, 9))
    # A plain update: not applied; its sender is asked for a resync (sync step 1).
    peer = FakePeer()
    room.receive(peer, encode_sync(SyncType.UPDATE, dangling))
    assert peer.closed is None
    assert peer.frames[-1] == encode_sync(SyncType.STEP1, room.doc.get_state())
    # A step 2 (all the sender has): closed with a code clients reconnect on.
    with pytest.raises(Rejected) as refused:
        room.receive(FakePeer(), encode_sync(SyncType.STEP2, dangling))
    assert refused.value.close_code == 1013 and "resync" in refused.value.message
    assert store.appends == 0 and room.doc.get_state() == b"\x00"


# -- presence -------------------------------------------------------------------------------


def _presence(entries: list[tuple[int, int, str]]) -> bytes:
    return encode_awareness(encode_update([(c, k, s.encode()) for c, k, s in entries]))


async def test_presence_flood_is_refused() -> None:
    room = await open_room(MemoryStore())
    viewer = FakePeer(read_only=True)
    flood = [(i, 1, '{"u":1}') for i in range(awareness.MAX_ENTRIES_PER_FRAME + 1)]
    with pytest.raises(Rejected, match="entries") as refused:
        room.receive(viewer, _presence(flood))
    assert refused.value.close_code == 4422
    assert room.awareness.entries == {}


async def test_a_connection_owns_a_bounded_number_of_ids() -> None:
    room = await open_room(MemoryStore())
    peer = FakePeer()
    for i in range(awareness.MAX_IDS_PER_PEER):
        room.receive(peer, _presence([(100 + i, 1, "{}")]))
    with pytest.raises(Rejected, match="at most") as refused:
        room.receive(peer, _presence([(999, 1, "{}")]))
    assert refused.value.close_code == 4422
    assert len(room.awareness.entries) == awareness.MAX_IDS_PER_PEER


@pytest.mark.parametrize(
    ("state", "code", "reason"),
    [
        ('"' + "x" * awareness.MAX_STATE_BYTES + '"', 4422, "bytes"),
        ("[" * 100_000 + "]" * 100_000, 4422, "bytes"),
        ("[" * 5_000 + "]" * 5_000, 1002, "nested too deep"),
    ],
    ids=["big", "deep and big", "deep"],
)
async def test_oversized_or_deep_presence_is_refused_clearly(
    state: str, code: int, reason: str
) -> None:
    room = await open_room(MemoryStore())
    with pytest.raises(Rejected, match=reason) as refused:
        room.receive(FakePeer(), _presence([(5, 1, state)]))
    assert refused.value.close_code == code


async def test_nobody_overwrites_or_clears_anyone_elses_presence() -> None:
    room = await open_room(MemoryStore())
    agent, user, other = FakePeer(), FakePeer(), FakePeer()
    room.join(other)
    room.receive(agent, _presence([(1, 1, '{"agent":"grammar"}')]))
    room.receive(user, _presence([(2, 1, '{"user":"ann"}')]))
    other.frames.clear()
    # `user` tries to rewrite the agent's state and clear it, and sets its own too.
    room.receive(user, _presence([(1, 9, '{"agent":"fake"}'), (2, 2, '{"user":"ann!"}')]))
    room.receive(user, _presence([(1, 10, "null")]))
    assert room.awareness.entries[1].state == b'{"agent":"grammar"}'
    assert room.awareness.entries[2].state == b'{"user":"ann!"}'
    assert user.awareness_ids == {2}
    # Bystanders only saw the legitimate part; the sender was told.
    assert other.frames == [_presence([(2, 2, '{"user":"ann!"}')])]
    assert sum(b"presence_not_yours" in frame for frame in user.frames) == 2
    # Another node cannot touch ids owned here either.
    room.remote_awareness(encode_update([(1, 11, b"null"), (3, 1, b"{}")]))
    assert set(room.awareness.entries) == {1, 2, 3}
    # The owner itself can clear its id.
    room.receive(agent, _presence([(1, 2, "null")]))
    assert set(room.awareness.entries) == {2, 3}


@pytest.mark.serial
async def test_a_stored_merge_bomb_does_not_freeze_the_load() -> None:
    # Two updates of 10,000 concurrent one-character inserts, stored before the
    # checks existed: replaying them took 8 s on every load.
    store = MemoryStore()
    seed(store, "doc", [concurrent_inserts(10_000, 5), concurrent_inserts(10_000, 6)])
    seed(store, "doc", _typed("kept"))
    started = time.perf_counter()
    room = await open_room(store)
    assert time.perf_counter() - started < 1.0
    assert str(room.doc.get("t", type=Text)).endswith("kept")


@pytest.mark.serial
async def test_deletes_splitting_one_item_are_bounded() -> None:
    # 50,000 deletes inside one long item took 0.37 s (500,000: 25 s): yrs moves
    # the client's block array at every split.
    store = MemoryStore()
    room = await open_room(store)
    owner = FakePeer()
    for update in _typed("x" * 5, client_id=7):
        room.receive(owner, encode_sync(SyncType.UPDATE, update))
    long_item = many_clients(1, first_client=8, text="y" * 200_000)
    room.receive(owner, encode_sync(SyncType.UPDATE, long_item))
    with pytest.raises(Rejected, match="move") as refused:
        room.receive(FakePeer(), encode_sync(SyncType.UPDATE, huge_delete_set(50_000, client=8)))
    assert refused.value.close_code == 4422
    worst, accepted = 0.0, []
    for part in range(30):  # the largest that pass, repeated: each stays cheap
        update = huge_delete_set(1_000, client=8, first=part * 2_000)
        started = time.perf_counter()
        try:
            room.receive(FakePeer(), encode_sync(SyncType.UPDATE, update))
        except Rejected as exc:
            assert exc.close_code == 4422
            break
        worst = max(worst, time.perf_counter() - started)
        accepted.append(update)
    assert 0 < len(accepted) < 30
    assert worst < 0.25, worst
    # Re-sending deletes the room already has (every Yjs sync step 2 does) is cheap.
    room.receive(FakePeer(), encode_sync(SyncType.STEP2, accepted[0]))


async def test_content_from_other_nodes_can_be_edited_next_to() -> None:
    # The index learns items that arrive from the bus, so a local client's edit
    # referencing them is not mistaken for one depending on missing content.
    room = await open_room(MemoryStore())
    remote: Doc = Doc(client_id=5)
    updates: list[bytes] = []
    remote.observe(lambda event: updates.append(event.update))
    remote.get("t", type=Text).insert(0, "from node B")
    room.remote_update(1, updates[0])
    local: Doc = Doc(client_id=6)
    local.apply_update(room.doc.get_update())
    before = local.get_state()
    local.get("t", type=Text).insert(5, "the ")
    room.receive(FakePeer(), encode_sync(SyncType.UPDATE, local.get_update(before)))
    assert str(room.doc.get("t", type=Text)) == "from the node B"


async def test_a_room_given_a_doc_without_an_index_indexes_it() -> None:
    doc: Doc = Doc(client_id=3)
    doc.get("t", type=Text).insert(0, "existing")
    room = Room("doc", doc, version=0, snapshot_seq=0, size_bytes=0, store=MemoryStore(),  # type: ignore[arg-type]
                limits=RoomLimits(10**9, 10**9), bus=RecordingBus())  # type: ignore[arg-type]  # fmt: skip
    editor: Doc = Doc(client_id=4)
    editor.apply_update(doc.get_update())
    before = editor.get_state()
    editor.get("t", type=Text).insert(8, "!")
    room.receive(FakePeer(), encode_sync(SyncType.UPDATE, editor.get_update(before)))
    assert str(doc.get("t", type=Text)) == "existing!"


@pytest.mark.serial
async def test_an_update_slower_than_estimated_makes_the_room_strict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The merge estimate misses YATA scanning through a chain hanging off the
    # conflicting items; the room then times applies and tightens the bounds.
    room = await open_room(MemoryStore())
    attacker = FakePeer()
    for frame in range(20):
        update = alternating_chain(frame * 500, 500)
        room.receive(attacker, encode_sync(SyncType.UPDATE, update))
    # One slow frame gets through (0.7 s on a loaded 2-core machine); the next is
    # refused. How slow it is depends on the machine, so the bar is lowered for
    # this frame: what is tested is that a slow apply makes the room strict.
    monkeypatch.setattr(room_module, "SLOW_APPLY_SECONDS", 0.0)
    room.receive(attacker, encode_sync(SyncType.UPDATE, concurrent_inserts(300, 5000)))
    with pytest.raises(Rejected, match="items placed among other clients") as refused:
        room.receive(attacker, encode_sync(SyncType.UPDATE, concurrent_inserts(300, 5001)))
    assert refused.value.close_code == 4422
    # A real keystroke still passes.
    for update in _typed("k", client_id=77):
        room.receive(FakePeer(), encode_sync(SyncType.UPDATE, update))

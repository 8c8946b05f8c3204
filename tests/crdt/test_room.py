"""Room, alone: a fake peer, the in-memory store, a recording bus; no server, no socket.

The edit path is checked step by step (receive -> validate -> append -> fan-out -> ack
after commit), along with what a room refuses and how it orders and repairs updates that
other nodes committed.
"""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Text

from devtools.memory_store import MemoryStore
from devtools.waiting import eventually
from draftroom.bus.base import UPDATE
from draftroom.crdt.protocol import MessageType, SyncMessage, SyncType, decode_message, encode_sync
from draftroom.crdt.room import Rejected, Room, RoomLimits

from .fakes import FakePeer, RecordingBus


def make_room(store: MemoryStore, bus: RecordingBus, **limits: int) -> Room:
    return Room(
        "doc",
        Doc(),
        version=0,
        snapshot_seq=0,
        size_bytes=0,
        store=store,  # type: ignore[arg-type]
        limits=RoomLimits(
            max_document_bytes=limits.get("max_document_bytes", 1_000_000),
            compact_after=limits.get("compact_after", 10_000),
        ),
        bus=bus,  # type: ignore[arg-type]
    )


class Writer:
    """A client-side Yjs document producing real updates."""

    def __init__(self, client_id: int = 1) -> None:
        self.doc = Doc(client_id=client_id)
        self.text = self.doc.get("text", type=Text)

    def type(self, index: int, chars: str) -> bytes:
        before = self.doc.get_state()
        self.text.insert(index, chars)
        return self.doc.get_update(before)


def text_of(room: Room) -> str:
    return str(room.doc.get("text", type=Text))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


async def test_an_edit_is_applied_appended_fanned_out_then_acked_after_commit(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    alice, bob = FakePeer(), FakePeer(user="bob")
    room.join(alice)
    room.join(bob)
    store.hold()
    update = Writer().type(0, "It was")

    room.receive(alice, encode_sync(SyncType.UPDATE, update))

    assert text_of(room) == "It was"  # validated by applying
    assert store.appends == 1 and len(store.pending) == 1  # queued, not yet committed
    assert bob.updates() == [encode_sync(SyncType.UPDATE, update)]  # fanned out at once
    assert alice.updates() == []  # never echoed to its sender
    assert alice.acks == [] and bus.published == []  # nothing promised before the commit

    store.commit()
    await eventually(lambda: alice.acks)
    assert alice.acks == [(1, 1)]
    assert room.version == 1
    # other nodes hear of it once, after the commit, with its sequence number
    assert [(e.kind, e.seq, e.payload) for e in bus.published] == [(UPDATE, 1, update)]
    assert (await store.load("doc")).updates == [update]


async def test_a_failed_commit_breaks_the_room_instead_of_acking(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    alice = FakePeer()
    room.join(alice)
    store.hold()
    room.receive(alice, encode_sync(SyncType.UPDATE, Writer().type(0, "lost")))
    store.fail()
    await eventually(lambda: alice.closed)
    assert alice.closed is not None and alice.closed[0] == 1011
    assert alice.acks == [] and room.closed


async def test_a_read_only_peer_changes_nothing_and_is_told_why(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    viewer, other = FakePeer(read_only=True, user="vic"), FakePeer(user="bob")
    room.join(viewer)
    room.join(other)

    room.receive(viewer, encode_sync(SyncType.UPDATE, Writer().type(0, "graffiti")))
    await asyncio.sleep(0)

    assert text_of(room) == ""
    assert store.appends == 0 and other.updates() == [] and bus.published == []
    assert viewer.closed is None  # the socket stays open for sync and presence
    assert [m["code"] for m in viewer.app() if m["type"] == "error"] == ["read_only"]


async def test_welcome_tells_a_peer_its_role_before_it_types(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    viewer = FakePeer(read_only=True, role="viewer", user="vic")
    editor = FakePeer(role="editor", user="bob")
    room.join(viewer)
    room.join(editor)

    welcome = [m for m in viewer.app() if m["type"] == "welcome"]
    assert welcome == [
        {"type": "welcome", "doc": room.doc_id, "version": 0, "role": "viewer", "read_only": True}
    ]
    assert [(m["role"], m["read_only"]) for m in editor.app() if m["type"] == "welcome"] == [
        ("editor", False)
    ]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (encode_sync(SyncType.UPDATE, b"\x01\x02\x03\xff"), 1007),  # not a Yjs update
        (bytes([MessageType.SYNC, SyncType.UPDATE, 50, 1]), 1002),  # truncated
        (bytes([42, 0]), 1003),  # unknown message type
    ],
)
async def test_malformed_input_is_rejected_and_changes_nothing(
    store: MemoryStore, bus: RecordingBus, frame: bytes, code: int
) -> None:
    room = make_room(store, bus)
    alice, bob = FakePeer(), FakePeer(user="bob")
    room.join(alice)
    room.join(bob)
    room.receive(alice, encode_sync(SyncType.UPDATE, Writer().type(0, "kept")))
    await eventually(lambda: alice.acks)

    with pytest.raises(Rejected) as rejected:
        room.receive(alice, frame)

    assert rejected.value.close_code == code
    assert text_of(room) == "kept" and store.appends == 1
    assert len(bob.updates()) == 1
    assert not room.closed  # one bad client does not take the room down


async def test_an_edit_over_the_size_limit_is_rejected(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus, max_document_bytes=100)
    alice = FakePeer()
    room.join(alice)
    with pytest.raises(Rejected) as rejected:
        room.receive(alice, encode_sync(SyncType.UPDATE, Writer().type(0, "x" * 200)))
    assert rejected.value.close_code == 4413
    assert text_of(room) == "" and store.appends == 0


async def test_remote_updates_out_of_order_advance_the_version_only_when_contiguous(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    reader = FakePeer()
    room.join(reader)
    w = Writer(client_id=7)
    first, second = w.type(0, "ab"), w.type(2, "cd")

    room.remote_update(2, second)
    assert room.version == 0  # seq 1 is still missing
    room.remote_update(1, first)
    assert room.version == 2
    assert text_of(room) == "abcd"
    room.remote_update(2, second)  # a duplicate delivery is ignored
    assert len(reader.updates()) == 2
    assert room.gap_repairs == 0


async def test_a_gap_that_stays_open_is_repaired_from_the_store(
    store: MemoryStore, bus: RecordingBus
) -> None:
    room = make_room(store, bus)
    reader = FakePeer()
    room.join(reader)
    w = Writer(client_id=9)
    first, second = w.type(0, "one "), w.type(4, "two")
    # another node committed both; pub/sub delivered only the second
    store.append("doc", first)
    store.append("doc", second)
    await store.flush()

    room.remote_update(2, second)
    assert room.version == 0

    await eventually(lambda: room.version == 2, 5, what="gap repaired from the store")
    assert text_of(room) == "one two"
    assert room.gap_repairs == 1


async def test_an_update_building_on_content_the_room_lacks_asks_its_client_to_resync(
    store: MemoryStore, bus: RecordingBus
) -> None:
    # A client failing over from a stopped node: it holds words that node never passed
    # on, and its next keystroke (building on them) reaches this room before its sync
    # step 2 does. Closing it with 4422 ended it for good (y-websocket never reconnects
    # on 44xx) with its words unsaved; instead it is asked for a step 2 of what we lack.
    room = make_room(store, bus)
    alice, bob = FakePeer(), FakePeer(user="bob")
    room.join(alice)
    room.join(bob)
    w = Writer(client_id=7)
    w.type(0, "written on node0 ")  # never reached this room
    keystroke = w.type(17, "x")
    alice.frames.clear()

    room.receive(alice, encode_sync(SyncType.UPDATE, keystroke))

    assert alice.closed is None
    assert text_of(room) == "" and store.appends == 0 and bob.updates() == []
    (ask,) = alice.frames
    request = decode_message(ask)
    assert isinstance(request, SyncMessage) and request.subtype == SyncType.STEP1
    # What the client library answers (Yjs and DraftroomClient alike): everything we lack.
    room.receive(alice, encode_sync(SyncType.STEP2, w.doc.get_update(request.payload)))
    await store.flush()
    assert text_of(room) == "written on node0 x"
    stored = Doc()
    for update in (await store.load("doc")).updates:
        stored.apply_update(update)
    assert str(stored.get("text", type=Text)) == "written on node0 x"
    seen = Doc()
    for frame in bob.updates():
        message = decode_message(frame)
        assert isinstance(message, SyncMessage)
        seen.apply_update(message.payload)
    assert str(seen.get("text", type=Text)) == "written on node0 x"
    # The ack covers the refused keystroke only once its step 2 is saved.
    await eventually(lambda: alice.acks == [(2, 1)], what="the ack of the step 2")


async def test_a_step2_building_on_content_nobody_sent_closes_with_a_reconnecting_code(
    store: MemoryStore, bus: RecordingBus
) -> None:
    # A step 2 is everything the client has that we lack: what it builds on is missing
    # on the client too. Asking again would repeat it, so the client reconnects later
    # (1013: y-websocket reconnects on it, unlike on 44xx) and nothing is applied.
    room = make_room(store, bus)
    alice = FakePeer()
    room.join(alice)
    w = Writer(client_id=7)
    w.type(0, "never sent ")
    dangling = w.type(11, "x")

    with pytest.raises(Rejected) as refused:
        room.receive(alice, encode_sync(SyncType.STEP2, dangling))

    assert refused.value.close_code == 1013 and "resync" in refused.value.message
    assert text_of(room) == "" and store.appends == 0

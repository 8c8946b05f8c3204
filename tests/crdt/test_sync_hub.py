"""The sync hub in-process: protocol, acks, fan-out, presence, rooms, both stores."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from pycrdt import Doc, Text

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.client import DraftroomClient
from draftroom.crdt.awareness import encode_update
from draftroom.crdt.protocol import (
    AppMessage,
    SyncMessage,
    SyncType,
    decode_message,
    encode_awareness,
    encode_sync,
)


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningServer]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with running_server(make_settings(tmp_path, url)) as running:
        yield running


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path)) as running:
        yield running


async def test_edits_are_acknowledged_after_commit_and_reach_others(server: RunningServer) -> None:
    async with (
        DraftroomClient(server.ws("doc")) as alice,
        DraftroomClient(server.ws("doc")) as bob,
    ):
        assert alice.app_log[0] == {
            "type": "welcome",
            "doc": "doc",
            "version": 0,
            "role": "owner",
            "read_only": False,
        }
        last = 0
        for word in ("It ", "was ", "a ", "dark ", "night"):
            last = alice.insert(word)
        version = await alice.wait_saved(last)
        assert version == 5, "five updates committed, version names the last"
        # The ack promises durability: the store has every update right now.
        state = await server.hub.store.load("doc")
        assert state.seq == 5
        await eventually(lambda: str(bob.text) == "It was a dark night")
        bob_n = bob.insert("!")
        assert await bob.wait_saved(bob_n) == 6
        await eventually(lambda: str(alice.text) == "It was a dark night!")


async def test_late_joiner_gets_full_state_from_store(server: RunningServer) -> None:
    async with DraftroomClient(server.ws("doc")) as writer:
        await writer.wait_saved(writer.insert("persisted words"))
    await asyncio.sleep(0.4)  # past the room grace period: the room is evicted
    assert "doc" not in server.hub.rooms
    async with DraftroomClient(server.ws("doc")) as reader:
        assert str(reader.text) == "persisted words"
        assert reader.app_log[0]["version"] == 1


async def test_offline_edits_in_sync_step2_are_saved_and_acked(server: RunningServer) -> None:
    offline = Doc()
    offline.get("text", type=Text).insert(0, "written on a train")
    client = DraftroomClient(server.ws("doc"))
    client.doc.apply_update(offline.get_update())
    await client.connect()
    # upto 1 is the client's sync step 2, which carried the offline text.
    await client.wait_saved(1)
    state = await server.hub.store.load("doc")
    assert state.seq == 1
    await client.close()


async def test_unmodified_clients_get_no_app_messages(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc"), app_messages=False) as plain:
        n = plain.insert("hi")
        await asyncio.sleep(0.2)
        assert plain.app_log == [] and n == 2
        assert (await sqlite_server.hub.store.load("doc")).seq == 1


async def test_hello_opts_in_to_app_messages(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc"), app_messages=False) as client:
        await client.hello()
        await client.wait_saved(client.insert("x"))
        assert client.app_log[0]["type"] == "welcome"


async def test_awareness_relayed_and_removed_on_disconnect(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as watcher:
        other = DraftroomClient(sqlite_server.ws("doc"))
        await other.connect()
        await other.set_awareness(4242, 1, '{"user":{"name":"Ada"},"cursor":3}')
        await eventually(lambda: watcher.awareness_frames >= 1)
        room = sqlite_server.hub.rooms["doc"]
        assert 4242 in room.awareness.entries
        frames_before = watcher.awareness_frames
        await other.close()
        await eventually(lambda: watcher.awareness_frames > frames_before)
        assert 4242 not in room.awareness.entries
        # A newcomer sees no ghost.
        async with DraftroomClient(sqlite_server.ws("doc")) as newcomer:
            await asyncio.sleep(0.1)
            assert newcomer.awareness_frames == 0


async def test_newcomer_receives_existing_presence(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as present:
        await present.set_awareness(7, 3, '{"user":{"name":"Grace ✍️"}}')
        await eventually(lambda: 7 in sqlite_server.hub.rooms["doc"].awareness.entries)
        async with DraftroomClient(sqlite_server.ws("doc")) as newcomer:
            await eventually(lambda: newcomer.awareness_frames == 1)


async def test_two_hundred_clients_join_forty_new_documents_at_once(
    sqlite_server: RunningServer,
) -> None:
    clients = [
        DraftroomClient(sqlite_server.ws(f"fresh-{i % 40}"), connect_timeout=30) for i in range(200)
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    assert all(c.synced.is_set() for c in clients)
    assert len(sqlite_server.hub.rooms) == 40
    await asyncio.gather(*(c.close() for c in clients))


async def test_room_is_evicted_after_grace_and_memory_released(
    sqlite_server: RunningServer,
) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as client:
        await client.wait_saved(client.insert("x"))
        assert "doc" in sqlite_server.hub.rooms
    await eventually(lambda: "doc" not in sqlite_server.hub.rooms)


async def test_rejoin_within_grace_keeps_room(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as client:
        await client.wait_saved(client.insert("x"))
    room = sqlite_server.hub.rooms["doc"]
    async with DraftroomClient(sqlite_server.ws("doc")) as again:
        assert sqlite_server.hub.rooms["doc"] is room
        assert str(again.text) == "x"


async def test_compaction_runs_in_background_without_losing_edits(tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path, compact_after=20)) as srv:
        async with DraftroomClient(srv.ws("doc")) as client:
            last = 0
            for _ in range(75):
                last = client.insert("y")
            await client.wait_saved(last)
            await eventually(lambda: srv.hub.rooms["doc"].snapshot_seq >= 60)
        state = await srv.hub.store.load("doc")
        assert state.snapshot is not None
        async with DraftroomClient(srv.ws("doc")) as reader:
            assert str(reader.text) == "y" * 75


async def test_drain_flushes_then_closes_with_1012(sqlite_server: RunningServer) -> None:
    client = DraftroomClient(sqlite_server.ws("doc"))
    await client.connect()
    for _ in range(20):
        client.insert("z")
    await asyncio.sleep(0.05)
    await sqlite_server.hub.drain()
    assert await client.wait_closed() == 1012
    assert (await sqlite_server.hub.store.load("doc")).seq == 20
    # A draining node turns newcomers away too.
    late = DraftroomClient(sqlite_server.ws("other"))
    with pytest.raises((asyncio.TimeoutError, websockets.ConnectionClosed)):
        await late.connect()
    assert await late.wait_closed() == 1012


async def test_query_awareness_answers_with_states(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as a:
        await a.send_raw(encode_awareness(encode_update([(9, 1, b'{"n":1}')])))
        await eventually(lambda: 9 in sqlite_server.hub.rooms["doc"].awareness.entries)
        before = a.awareness_frames
        await a.send_raw(b"\x03")
        await eventually(lambda: a.awareness_frames == before + 1)


async def test_sync_step1_is_answered_with_missing_state(sqlite_server: RunningServer) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as writer:
        await writer.wait_saved(writer.insert("abc"))
        async with DraftroomClient(sqlite_server.ws("doc")) as reader:
            # A second step 1 with an empty state vector gets the whole doc again.
            arrivals = len(reader.update_arrivals)
            await reader.send_raw(encode_sync(SyncType.STEP1, b"\x00"))
            await eventually(lambda: len(reader.update_arrivals) == arrivals + 1)
            assert str(reader.text) == "abc"


async def test_reconnect_step2_repeating_known_state_is_not_stored(
    sqlite_server: RunningServer,
) -> None:
    async with DraftroomClient(sqlite_server.ws("doc")) as writer:
        writer.insert("hello world")
        last = writer.insert("!")
        before = await writer.wait_saved(last)
        del writer.text[0:6]  # a delete: Yjs then sends a non-empty delete set forever
        await writer.wait_saved(writer.send_update(writer.doc.get_update(writer.doc.get_state())))
    version = (await sqlite_server.hub.store.load("doc")).seq
    assert version >= before
    # Reconnecting with the same doc sends a step 2 that changes nothing.
    again = DraftroomClient(sqlite_server.ws("doc"))
    again.doc.apply_update((await sqlite_server.hub.store.load("doc")).updates[0])
    for update in (await sqlite_server.hub.store.load("doc")).updates[1:]:
        again.doc.apply_update(update)
    await again.connect()
    await again.wait_saved(1)
    assert (await sqlite_server.hub.store.load("doc")).seq == version
    await again.close()


async def test_a_client_that_stops_reading_is_dropped_without_slowing_the_room(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, send_queue_bytes=256 * 1024)
    async with running_server(settings) as srv:
        # max_queue=1: this client's library stops reading the socket after one frame.
        stuck = await websockets.connect(
            srv.ws("doc"),
            sock=await _small_receive_buffer_socket(srv.port),
            max_size=None,
            compression=None,
            max_queue=1,
        )
        async with (
            DraftroomClient(srv.ws("doc")) as writer,
            DraftroomClient(srv.ws("doc")) as reader,
        ):
            await eventually(lambda: len(srv.hub.rooms["doc"].peers) == 3)
            chunk = "p" * 100_000
            # More than the kernel can hold for the stuck client (the server's send buffer
            # at its largest, plus its small receive buffer), so the server's own queue must
            # overflow. Each edit costs time in proportion to the document's size, so the
            # document stays no larger than that.
            chunks = -(-(_max_send_buffer() + 2 * 1024 * 1024) // len(chunk))
            last = 0
            for _ in range(chunks):
                last = writer.insert(chunk)
                await asyncio.sleep(0)
            await writer.wait_saved(last, within=60)
            # The stuck client was dropped; the others got everything.
            await eventually(lambda: len(srv.hub.rooms["doc"].peers) == 2, within=30)
            await eventually(lambda: len(reader.text) == chunks * len(chunk), within=30)
            assert reader.close_code is None and writer.close_code is None
        stuck.transport.abort()


async def _small_receive_buffer_socket(port: int) -> socket.socket:
    """A connected socket whose receive buffer is fixed at 64 KiB: setting it before
    connecting turns off the kernel's autotuning, which would otherwise let a client
    that stops reading absorb tens of MB (tcp_rmem's maximum) before the server notices."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


def _max_send_buffer() -> int:
    """The most a TCP send buffer grows to here (Linux autotunes up to tcp_wmem's maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 16 * 1024 * 1024


async def test_a_keystroke_racing_ahead_of_its_step2_is_resynced_not_cut_off(
    sqlite_server: RunningServer,
) -> None:
    # A client failing over from a stopped node holds words this node never got, and
    # types before answering our sync step 1: that keystroke builds on the missing
    # words. It used to close 4422, on which y-websocket never reconnects: the client
    # was cut off for good with its words unsaved.
    offline = Doc(client_id=42)
    text = offline.get("text", type=Text)
    text.insert(0, "typed on the node that stopped ")
    before = offline.get_state()
    text.insert(len(str(text)), "x")
    keystroke = offline.get_update(before)
    async with websockets.connect(sqlite_server.ws("doc") + "?draftroom=1") as ws:
        await ws.send(encode_sync(SyncType.UPDATE, keystroke))
        asks = 0
        while asks < 2:  # the step 1 every join gets, then the resync request
            message = decode_message(await asyncio.wait_for(ws.recv(), 5))
            if isinstance(message, SyncMessage) and message.subtype == SyncType.STEP1:
                asks += 1
        await ws.send(encode_sync(SyncType.STEP2, offline.get_update(message.payload)))
        while True:
            message = decode_message(await asyncio.wait_for(ws.recv(), 5))
            if isinstance(message, AppMessage) and message.data["type"] == "saved":
                break
        assert message.data["upto"] == 2
    state = await sqlite_server.hub.store.load("doc")
    stored = Doc()
    for update in state.updates:
        stored.apply_update(update)
    assert str(stored.get("text", type=Text)) == "typed on the node that stopped x"

"""Bad input closes only the sender, with a clear code; others and the store are untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Text

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.client import DraftroomClient
from draftroom.crdt.awareness import AwarenessRegistry, parse_update
from draftroom.crdt.protocol import (
    MessageType,
    ProtocolError,
    SyncType,
    decode_message,
    encode_awareness,
    encode_sync,
    write_varbytes,
)
from draftroom.document.load import build_doc


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, max_message_bytes=64 * 1024, max_document_bytes=200_000)
    async with running_server(settings) as running:
        yield running


async def _raw(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url + "?draftroom=1", max_size=None, compression=None)
    await ws.recv()  # the server's sync step 1
    return ws


async def _closed_with(ws: websockets.ClientConnection) -> tuple[int | None, str]:
    try:
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or ""


BAD_FRAMES = {
    "empty frame": (b"", 1002, "truncated varint"),
    "truncated varint": (b"\x80", 1002, "truncated"),
    "varint too long": (b"\xff" * 20, 1002, "varint too long"),
    "unknown message type": (b"\x07\x00", 1003, "unknown message type 7"),
    "unknown sync subtype": (b"\x00\x09\x00", 1003, "unknown sync message type"),
    "absurd length": (b"\x00\x02\xff\xff\xff\xff\x0f", 1002, "exceeds frame"),
    "garbage update": (encode_sync(SyncType.UPDATE, b"\x01\x01\x05\x00\x04hello"), 1007, "invalid"),
    "truncated update": (encode_sync(SyncType.UPDATE, b"\x01\x01"), 1007, "invalid update"),
    "bad state vector": (encode_sync(SyncType.STEP1, b"\x05\x01"), 1002, "state vector"),
    "awareness not json": (
        encode_awareness(b"\x01\x07\x01" + write_varbytes(b"{nope")),
        1002,
        "awareness",
    ),
    "awareness not utf-8": (
        encode_awareness(b"\x01\x07\x01" + write_varbytes(b'"\xff\xfe"')),
        1002,
        "awareness",
    ),
    "invalid msgpack app message": (bytes([MessageType.DRAFTROOM, 0xC1]), 1002, "msgpack"),
    "app message not a map": (bytes([MessageType.DRAFTROOM, 0x01]), 1002, "map"),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
async def test_bad_frame_closes_only_sender(server: RunningServer, name: str) -> None:
    frame, code, reason_part = BAD_FRAMES[name]
    async with DraftroomClient(server.ws("doc")) as bystander:
        await bystander.wait_saved(bystander.insert("safe"))
        before = await server.hub.store.load("doc")
        bad = await _raw(server.ws("doc"))
        await bad.send(frame)
        got_code, got_reason = await _closed_with(bad)
        assert got_code == code, got_reason
        assert reason_part in got_reason
        # The room and the bystander carry on, and the store is unchanged by the bad frame.
        n = bystander.insert(" still")
        await bystander.wait_saved(n)
        after = await server.hub.store.load("doc")
        assert after.updates[: len(before.updates)] == before.updates
        assert after.seq == before.seq + 1
        assert str(bystander.text) == "safe still"


async def test_text_frame_is_refused(server: RunningServer) -> None:
    bad = await _raw(server.ws("doc"))
    await bad.send("hello")
    assert await _closed_with(bad) == (1003, "binary frames only")


async def test_oversize_message_closes_with_1009(server: RunningServer) -> None:
    async with DraftroomClient(server.ws("doc")) as bystander:
        bad = await _raw(server.ws("doc"))
        await bad.send(encode_sync(SyncType.UPDATE, b"\x00" * 100_000))
        code, _ = await _closed_with(bad)
        assert code == 1009
        await bystander.wait_saved(bystander.insert("fine"))
    assert (await server.hub.store.load("doc")).seq == 1


async def test_document_size_limit_closes_with_4413_and_keeps_document(
    server: RunningServer,
) -> None:
    async with DraftroomClient(server.ws("doc")) as writer:
        chunk = "w" * 50_000
        last = 0
        for _ in range(3):
            last = writer.insert(chunk)
        await writer.wait_saved(last)
        writer.insert(chunk)
        assert await writer.wait_closed() == 4413
        assert writer.app_log[-1]["code"] == "document_too_large"
    state = await server.hub.store.load("doc")
    assert state.seq == 3
    async with DraftroomClient(server.ws("doc")) as reader:
        assert len(str(reader.text)) == 150_000


@pytest.mark.parametrize(
    "doc_id", ["..", "a//b", "-leading", "x" * 300, "sp%20ace", "%C3%A9t%C3%A9"]
)
async def test_invalid_document_ids_are_refused(server: RunningServer, doc_id: str) -> None:
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/{doc_id}")
    code, reason = await _closed_with(ws)
    assert (code, reason) == (4400, "invalid document id")


# -- fuzzing the decoder --------------------------------------------------------


@given(st.binary(max_size=256))
def test_decoder_raises_only_protocol_errors(frame: bytes) -> None:
    try:
        decode_message(frame)
    except ProtocolError:
        pass


@given(st.binary(max_size=128))
def test_awareness_parser_raises_only_protocol_errors(update: bytes) -> None:
    registry = AwarenessRegistry()
    try:
        parse_update(update)
        registry.apply(update)
    except ProtocolError:
        pass


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.binary(max_size=64), kind=st.sampled_from([0, 1, 3, 100]))
async def test_fuzzed_frames_never_corrupt_the_document(
    tmp_path_factory: pytest.TempPathFactory, payload: bytes, kind: int
) -> None:
    # One server per example would be slow; the module-scoped server below is shared.
    srv = _FUZZ["server"]
    frame = bytes([kind]) + payload
    ws = await _raw(srv.ws("fuzz"))
    await ws.send(frame)
    await ws.close()
    # The server is alive, the room still takes edits, and what is stored replays
    # to exactly what the room serves.
    async with DraftroomClient(srv.ws("fuzz")) as probe:
        n = probe.insert("k")
        await probe.wait_saved(n)
        state = await srv.hub.store.load("fuzz")
        stored = build_doc(state.snapshot, state.updates).get("text", type=Text)
        assert str(stored) == str(probe.text) and str(stored).endswith("k")


_FUZZ: dict[str, RunningServer] = {}


@pytest.fixture(autouse=True, scope="function")
async def _fuzz_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[None]:
    if request.node.name.startswith("test_fuzzed_frames"):
        async with running_server(make_settings(tmp_path)) as srv:
            _FUZZ["server"] = srv
            yield
            _FUZZ.clear()
    else:
        yield

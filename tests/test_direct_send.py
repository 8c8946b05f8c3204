"""Broadcast frames written straight to the socket (server/direct_send.py): the bytes
are exactly the frame websockets would build, the path is taken only on plain
connections, and clients receive the same updates either way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets
from websockets.frames import Frame, Opcode

from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import SyncMessage, SyncType, decode_message
from draftroom.server.direct_send import encode_frame
from inprocess import make_settings, running_server


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_frames_are_byte_identical_to_websockets(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    expected = Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])
    assert encode_frame(payload) == expected
    assert encode_frame(payload) is encode_frame(payload)  # one encoding per broadcast
    other = bytes(payload)  # equal bytes, another object: encoded afresh, still right
    assert encode_frame(other) == expected


@pytest.mark.parametrize(
    ("deflate", "direct_send"),
    [(False, True), (True, True), (False, False)],
    ids=["plain", "deflate", "turned-off"],
)
async def test_updates_reach_clients_on_both_paths(
    tmp_path: Path, deflate: bool, direct_send: bool
) -> None:
    settings = make_settings(tmp_path, ws_per_message_deflate=deflate, ws_direct_send=direct_send)
    async with running_server(settings) as server:
        # A bare y-websocket peer that offers per-message deflate, as browsers do.
        raw = await websockets.connect(
            server.ws("d"), compression="deflate" if deflate else None, max_size=None
        )
        try:
            async with (
                DraftroomClient(server.ws("d")) as alice,
                DraftroomClient(server.ws("d")) as bob,
            ):
                direct = sorted(c._direct is not None for c in server.hub.connections)
                # Plain connections write directly; one that negotiated compression
                # goes through the protocol.
                if not direct_send:
                    assert direct == [False, False, False]
                else:
                    assert direct == ([False, True, True] if deflate else [True, True, True])
                for i in range(50):
                    await alice.wait_saved(alice.insert(f"{i},"))
                expected = "".join(f"{i}," for i in range(50))
                await eventually(lambda: str(bob.text) == expected)
            updates = 0
            while updates < 50:
                message = decode_message(await asyncio.wait_for(raw.recv(), 5))
                updates += isinstance(message, SyncMessage) and message.subtype == SyncType.UPDATE
        finally:
            await raw.close()


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)

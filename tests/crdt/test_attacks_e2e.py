"""The reported attacks against a real `draftroom serve` process: each frame is
refused with a clear close code, the process lives (a native crash would show as
a dead server), other documents keep saving fast, and the store is unchanged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
import websockets

from devtools.draftroom import DraftroomProcess
from devtools.yjs_attacks import any_bomb, concurrent_inserts, many_clients, type_chain
from draftroom.client import DraftroomClient
from draftroom.crdt import update_check
from draftroom.crdt.awareness import encode_update
from draftroom.crdt.protocol import SyncType, encode_awareness, encode_sync


async def _attack(url: str, frames: list[bytes]) -> tuple[int | None, str]:
    """Send ``frames`` on one raw socket; return how the server closed it."""
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.recv()  # sync step 1
        try:
            for frame in frames:
                await ws.send(frame)
            async with asyncio.timeout(20):
                async for _ in ws:
                    pass
        except websockets.ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason or ""


def _update(update: bytes) -> bytes:
    return encode_sync(SyncType.UPDATE, update)


def _nesting_over_frames() -> list[bytes]:
    frames, step = [], 40
    for part in range(update_check.MAX_TYPE_DEPTH // step + 1):
        parent = (9, part * step - 1) if part else None
        frames.append(_update(type_chain(step, client=9, clock=part * step, parent=parent)))
    return frames


ATTACKS: dict[str, Callable[[], list[bytes]]] = {
    "any nested 70,000 deep": lambda: [_update(any_bomb(70_000))],
    "types nested over many frames": _nesting_over_frames,
    "10,000 concurrent inserts x2": lambda: [
        _update(concurrent_inserts(10_000, 5)),
        _update(concurrent_inserts(10_000, 6)),
    ],
    "10,000 client ids": lambda: [_update(many_clients(10_000))],
    "presence flood": lambda: [
        encode_awareness(encode_update([(i, 1, b"{}") for i in range(100_000)]))
    ],
}


async def _type_and_time(client: DraftroomClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.wait_saved(client.insert("k"))
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)


@pytest.mark.serial
async def test_reported_attacks_are_refused_and_the_node_keeps_serving(
    draftroom_process: Callable[..., DraftroomProcess],
) -> None:
    node = draftroom_process()
    target = node.ws_url("target")
    content = f"{node.http_url}/api/documents/target/content"
    # Built up front: encoding them here must not stall the victim's timing below.
    attacks = {name: build() for name, build in ATTACKS.items()}
    async with DraftroomClient(target) as owner:
        await owner.wait_saved(owner.insert("kept"))
    async with httpx.AsyncClient() as http, DraftroomClient(node.ws_url("other")) as victim:
        before = (await http.get(content)).json()
        await victim.wait_saved(victim.insert("warm"))
        stop, latencies = asyncio.Event(), []
        typing = asyncio.create_task(_type_and_time(victim, stop, latencies))
        closes = []
        started = time.perf_counter()
        while time.perf_counter() - started < 2.0:  # repeated, so the victim gets samples
            for name, frames in attacks.items():
                closes.append((name, *await _attack(target, frames)))
                assert node.running, name
            attacks.pop("types nested over many frames", None)  # its first frames are stored
        stop.set()
        await typing
        after = (await http.get(content)).json()
        health = await http.get(f"{node.http_url}/healthz")
    for name, code, reason in closes:
        assert code == 4422, (name, code, reason)
    assert health.status_code == 200
    # The nesting attack's first frames were within bounds, so they were stored;
    # every other attack left the store as it was.
    depth_frames = update_check.MAX_TYPE_DEPTH // 40
    assert after["version"] == before["version"] + depth_frames
    assert after.get("text") == before.get("text") == "kept"
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert len(latencies) >= 20 and p99 < 0.1, (len(latencies), p99, latencies[-5:])


async def test_a_fresh_node_loads_what_the_attacks_left(
    draftroom_process: Callable[..., DraftroomProcess],
) -> None:
    node = draftroom_process()
    url = node.ws_url("target")
    await _attack(url, _nesting_over_frames())
    node.restart()
    async with DraftroomClient(url) as client:
        await client.wait_saved(client.insert("after restart"))
    assert node.running

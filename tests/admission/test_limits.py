"""Admission control on a running node: refused with 1013 / 503, admitted again later.

The connection limit is driven with real sockets on an in-process server. The lag
limit needs a loop that really stalls: the node runs as its own process and is
stopped with SIGSTOP for a moment, which is what a CPU-starved container (a cgroup
quota used up, a noisy neighbour) does to it. No hook in the product is involved.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from agents.helpers import agent_events

from devtools.inprocess import make_settings, running_server
from devtools.waiting import eventually
from draftroom.admission import AdmissionControl
from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import decode_app, encode_app


async def admitted(url: str) -> websockets.ClientConnection:
    """A socket the node took in: its first frame is sync step 1."""
    ws = await websockets.connect(url, compression=None)
    first = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(first, bytes) and first[:1] == b"\x00", (first, ws.close_code)
    return ws


async def refusal(url: str, within: float = 10) -> tuple[int | None, str, list[bytes]]:
    """Open a socket and read until the node closes it: (code, reason, frames)."""
    frames: list[bytes] = []
    ws = await websockets.connect(url, compression=None)
    try:
        async with asyncio.timeout(within):
            async for frame in ws:
                assert isinstance(frame, bytes)
                frames.append(frame)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or "", frames


async def test_a_full_node_refuses_the_next_socket_and_http_then_admits_again(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, max_connections=2)
    async with running_server(settings) as srv, httpx.AsyncClient(base_url=srv.http) as http:
        first = await admitted(srv.ws("full"))
        second = await admitted(srv.ws("full"))

        code, reason, frames = await refusal(srv.ws("full") + "?draftroom=1")
        assert code == 1013, (code, reason)
        assert "limit of 2 connections" in reason
        assert decode_app(frames[0][1:]) == {
            "type": "error",
            "code": "overloaded",
            "close_code": 1013,
            "message": reason,
        }
        r = await http.get("/api/documents")
        assert r.status_code == 503
        assert r.json()["error"] == "overloaded"
        assert int(r.headers["Retry-After"]) >= 1
        # Probes and the autoscaler's numbers still answer.
        assert (await http.get("/healthz")).status_code == 200
        scrape = (await http.get("/metrics")).text
        assert re.search(r"^draftroom_admission_pressure\{[^}]*\} 2\.0$", scrape, re.M)
        refused = r'^draftroom_admission_refused_total\{draftroom_admission_kind="websocket",'
        assert re.search(
            refused + r'draftroom_admission_reason="connections"[^}]*\} 1\.0$', scrape, re.M
        )

        # The writers already in are untouched, and a freed slot is taken again.
        await second.send(bytes([0, 0, 1, 0]))  # sync step 1 with an empty state vector
        assert (await asyncio.wait_for(second.recv(), 5))[:2] == b"\x00\x01"
        await first.close()
        gate = srv.hub.feature(AdmissionControl)
        await eventually(lambda: gate.sockets < 2, what="the closed socket's slot freed")
        assert (await http.get("/api/documents")).status_code == 200
        third = await admitted(srv.ws("full"))
        await third.close()
        await second.close()


@pytest.mark.serial
def test_a_stalled_loop_refuses_newcomers_keeps_writers_and_recovers(
    draftroom_process: Any,
) -> None:
    asyncio.run(_stalled_loop(draftroom_process))


async def _stalled_loop(draftroom_process: Any) -> None:
    node = draftroom_process("--max-loop-lag-ms", "200")
    ws_url = node.ws_url("lagged")
    async with httpx.AsyncClient(base_url=node.http_url) as http:
        writer = await admitted(ws_url)
        # The sampler skips its first interval (start-up is not client load): stall
        # the node only once it is sampling.
        await asyncio.sleep(0.5)
        assert node.pid is not None
        os.kill(node.pid, signal.SIGSTOP)
        await asyncio.sleep(0.6)
        os.kill(node.pid, signal.SIGCONT)
        refused_at = time.monotonic()

        # The lag is noticed at the loop's first timer after it resumes: HTTP is
        # refused from then on, and so is every WebSocket newcomer.
        r = await http.get("/api/documents")
        for _ in range(10):
            if r.status_code == 503:
                break
            await asyncio.sleep(0.05)
            r = await http.get("/api/documents")
        assert r.status_code == 503 and r.json()["error"] == "overloaded", r.status_code
        assert int(r.headers["Retry-After"]) >= 1
        code, reason, _ = await refusal(ws_url, within=5.0)
        assert code == 1013, (code, reason)
        # The writer admitted before the stall is still served.
        await writer.send(bytes([0, 0, 1, 0]))
        assert (await asyncio.wait_for(writer.recv(), 5))[:2] == b"\x00\x01"

        async def back() -> bool:
            return (await http.get("/api/documents")).status_code == 200

        await eventually(back, within=15, interval=0.1, what="HTTP admitted again")
        recovered = time.monotonic() - refused_at
        newcomer = await admitted(ws_url)
        assert recovered >= 1.0, recovered  # hysteresis: not on the first quiet sample
        await newcomer.close()
        await writer.close()


async def test_a_node_near_its_limit_sheds_agents_export_and_analytics_first(
    tmp_path: Path,
) -> None:
    # 9 of 10 connections: past 90 %, work that can wait is refused; editing is not.
    settings = make_settings(tmp_path, max_connections=10)
    async with running_server(settings) as srv, httpx.AsyncClient(base_url=srv.http) as http:
        sockets = [await admitted(srv.ws(f"busy{i}")) for i in range(7)]
        async with (
            DraftroomClient(srv.ws("busy")) as client,
            DraftroomClient(srv.ws("busy")) as watcher,
        ):
            await client.wait_saved(client.insert("Edits still go through."))
            # Presence gives way: a burst of cursor moves reaches others merged.
            await eventually(lambda: srv.hub.hooks.presence_delay > 0, what="presence held")
            before = watcher.awareness_frames
            for clock in range(1, 21):
                await client.set_awareness(4242, clock, f'{{"cursor": {clock}}}')
            await eventually(lambda: watcher.awareness_frames > before, what="presence relayed")
            await asyncio.sleep(1.2)  # two more holds: anything left would arrive now
            assert 1 <= watcher.awareness_frames - before <= 3
            for method, path in (
                ("POST", "/api/documents/busy/agents/readability"),
                ("GET", "/api/documents/busy/export/md"),
                ("POST", "/api/export/jobs"),
                ("GET", "/api/admin/analytics"),
            ):
                r = await http.request(method, path, json={})
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.json()["error"] == "overloaded" and "Retry-After" in r.headers
            # The same agent asked over the socket is refused to the requester alone.
            invoke = {"type": "agent.invoke", "agent": "readability", "request": "r1"}
            await client.send_raw(encode_app(invoke))
            await eventually(lambda: agent_events(client.app_log, "r1"), what="an answer")
            assert agent_events(client.app_log, "r1")[0]["code"] == "overloaded"
            # Editing, the document API and new sockets are still served.
            await client.wait_saved(client.insert(" More."))
            assert (await http.get("/api/documents/busy/content")).status_code == 200
            newcomer = await admitted(srv.ws("busy"))
            await newcomer.close()
        for ws in sockets:
            await ws.close()
        # Below 90 % again: the agent answers.
        gate = srv.hub.feature(AdmissionControl)
        await eventually(lambda: gate.sockets == 0, what="sockets released")
        r = await http.post("/api/documents/busy/agents/readability", json={}, timeout=60)
        assert r.status_code == 200, r.text

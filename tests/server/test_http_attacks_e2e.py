"""The reported HTTP attacks against a real `draftroom serve` process, while another
writer keeps typing: each is refused with a clear JSON error or a closed connection,
the process lives, and the writer's save acknowledgements stay fast (p99 < 100 ms)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from devtools.draftroom import DraftroomProcess
from draftroom.client import DraftroomClient


async def _type_and_time(client: DraftroomClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.wait_saved(client.insert("k"))
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)


async def _huge_body() -> AsyncIterator[bytes]:
    chunk = b"x" * (1024 * 1024)
    for _ in range(200):  # 200 MB if nobody stops reading
        yield chunk


async def _slow_headers(port: int, sockets: int, seconds: float) -> int:
    """Open sockets that trickle a request line and never finish their headers;
    return how many the server closed within ``seconds``."""

    def trickle() -> int:
        conns = []
        for _ in range(sockets):
            s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
            s.sendall(b"GET /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            conns.append(s)
        closed = 0
        deadline = time.monotonic() + seconds
        for s in conns:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while s.recv(4096):
                    pass
                closed += 1  # EOF: the server gave up on it
            except (TimeoutError, OSError):
                pass
            finally:
                s.close()
        return closed

    return await asyncio.to_thread(trickle)


@pytest.mark.serial
async def test_http_attacks_are_refused_and_other_writers_keep_saving(
    draftroom_process: Callable[..., DraftroomProcess],
) -> None:
    node = draftroom_process("--header-timeout-seconds", "2")
    port = int(node.http_url.rsplit(":", 1)[1])
    async with DraftroomClient(node.ws_url("shared")) as owner:
        await owner.wait_saved(owner.insert("kept"))
    async with httpx.AsyncClient(base_url=node.http_url, timeout=30) as http:
        async with DraftroomClient(node.ws_url("victim")) as victim:
            await victim.wait_saved(victim.insert("warm"))
            stop, latencies = asyncio.Event(), []
            typing = asyncio.create_task(_type_and_time(victim, stop, latencies))
            slow = asyncio.create_task(_slow_headers(port, 20, 6.0))

            # An unauthenticated 200 MB login body: refused before it is read.
            try:
                big = await http.post("/api/sessions", content=_huge_body())
                big_status = big.status_code
            except httpx.HTTPError:
                big_status = 413  # the server closed the stream mid-upload: refused
            # JSON nested 20,000 deep.
            deep = await http.post(
                "/api/documents",
                content=b"[" * 20_000 + b"]" * 20_000,
                headers={"content-type": "application/json"},
            )
            # A compiled export listing one document 1,000 times.
            dup = await http.post(
                "/api/export/jobs",
                content=json.dumps(
                    {"documents": ["shared"] * 1000, "format": "md", "mode": "compile"}
                ),
                headers={"content-type": "application/json"},
            )
            # Eleven wrong passwords for one account.
            logins = [
                (
                    await http.post("/api/sessions", json={"username": "ann", "password": "x" * 9})
                ).status_code
                for _ in range(11)
            ]
            closed_slow = await slow
            stop.set()
            await typing
        content = (await http.get("/api/documents/shared/content")).json()
        health = await http.get("/healthz")

    assert node.running
    assert health.status_code == 200
    assert big_status == 413
    assert deep.status_code in (400, 422) and "error" in deep.json()
    assert dup.status_code == 422 and dup.json()["error"] == "duplicate_documents"
    assert set(logins) <= {401, 429}, logins
    assert closed_slow == 20, closed_slow  # every half-sent request timed out
    assert content.get("text") == "kept"  # nothing refused reached the store
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert len(latencies) >= 20 and p99 < 0.1, (len(latencies), p99, latencies[-5:])

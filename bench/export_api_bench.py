"""``bench/export.py --api``: 100 documents exported as one ZIP through a real server.

Starts ``python -m draftroom serve`` (SQLite, unpinned so its export worker
processes can use the other cores), writes 100 documents of ~1,500 words over
WebSocket, then measures:

- edit acknowledgement latency of a client typing into another document, idle;
- ``POST /api/export`` (mode zip) of the 100 documents: wall time, ZIP size, peak RSS
  of the server and of its worker processes;
- the same ack latency while that export runs (the editing path must not stall).

All traffic is on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from common import draftroom_server, free_port, markdown_table, percentiles

from draftroom.client import DraftroomClient

DOCS = 100


async def _type(client: DraftroomClient, stop: asyncio.Event, limit: int) -> list[float]:
    """Insert a character, wait for its ack, repeat; returns each round trip in ms."""
    rtts: list[float] = []
    while not stop.is_set() and len(rtts) < limit:
        t0 = time.perf_counter()
        await client.wait_saved(client.insert("k"), within=30)
        rtts.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.005)  # a fast typist, not a flood
    return rtts


def _tree_rss(ps: psutil.Process) -> tuple[int, int]:
    """(server RSS, largest worker RSS) in bytes."""
    children = ps.children(recursive=True)
    workers = [c.memory_info().rss for c in children if c.is_running()]
    return ps.memory_info().rss, max(workers, default=0)


async def api_bench(words_per_doc: int, fmt: str, build_novel: Callable[..., Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-export-api-") as tmp:
        port = free_port()
        server = draftroom_server(
            port=port,
            data_dir=Path(tmp),
            log_dir=Path(tmp) / "logs",
            extra=["--allow-anonymous"],  # loopback only: the bench has no accounts
        )
        server.cpu = None  # workers inherit affinity: leave them free to use every core
        server.start()
        try:
            await _run(server, port, words_per_doc, fmt, build_novel)
        finally:
            server.stop()


async def _run(
    server: Any, port: int, words_per_doc: int, fmt: str, build_novel: Callable[..., Any]
) -> None:
    ws = f"ws://127.0.0.1:{port}/ws/"
    ids = [f"doc-{n:03d}" for n in range(DOCS)]
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
        for n, doc_id in enumerate(ids):
            await http.post("/api/documents", json={"id": doc_id, "title": f"Chapter {n}"})
            state = build_novel(words_per_doc, 1, seed=n).get_update()
            async with DraftroomClient(ws + doc_id) as client:
                await client.wait_saved(client.send_update(state), within=60)
        print(
            f"wrote {DOCS} documents x {words_per_doc:,} words in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )

        async with DraftroomClient(ws + "typing") as typist:
            idle = await _type(typist, asyncio.Event(), 200)

            stop = asyncio.Event()
            typing = asyncio.get_running_loop().create_task(_type(typist, stop, 100_000))
            peak_server = peak_worker = 0

            async def sample() -> None:
                nonlocal peak_server, peak_worker
                while not stop.is_set():
                    s, w = _tree_rss(server.ps)
                    peak_server, peak_worker = max(peak_server, s), max(peak_worker, w)
                    await asyncio.sleep(0.1)

            sampler = asyncio.get_running_loop().create_task(sample())
            t0 = time.perf_counter()
            body = io.BytesIO()
            async with http.stream(
                "POST", "/api/export", json={"documents": ids, "format": fmt, "mode": "zip"}
            ) as response:
                response.raise_for_status()
                first_byte = time.perf_counter() - t0
                async for chunk in response.aiter_bytes():
                    body.write(chunk)
            elapsed = time.perf_counter() - t0
            stop.set()
            busy = await typing
            await sampler

    with zipfile.ZipFile(body) as z:
        assert len(z.namelist()) == DOCS and z.testzip() is None
    idle_p, busy_p = percentiles(idle), percentiles(busy)
    print(
        markdown_table(
            ["measure", "value"],
            [
                [
                    f"{DOCS} x {words_per_doc:,}-word documents as a {fmt} ZIP via API",
                    f"{elapsed:.2f} s",
                ],
                ["first byte of the ZIP", f"{first_byte:.2f} s"],
                ["ZIP size", f"{len(body.getvalue()) / 1e6:.1f} MB"],
                ["server peak RSS during export", f"{peak_server / 2**20:.0f} MB"],
                ["largest worker peak RSS", f"{peak_worker / 2**20:.0f} MB"],
                [
                    "edit ack p50 / p99, idle",
                    f"{idle_p['p50']:.1f} / {idle_p['p99']:.1f} ms ({len(idle)} edits)",
                ],
                [
                    "edit ack p50 / p99, during export",
                    f"{busy_p['p50']:.1f} / {busy_p['p99']:.1f} ms ({len(busy)} edits)",
                ],
            ],
        )
    )

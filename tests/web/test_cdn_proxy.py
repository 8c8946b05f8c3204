"""deploy/nginx/draftroom-cdn.conf really caches: the second load of the app through
the proxy is served from nginx's cache, and the origin sees no request for it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.inprocess import make_settings, serving
from devtools.process import free_port
from devtools.waiting import eventually
from draftroom.server.app import create_app
from web.site import ROOT, build_web

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SNIPPET = ROOT / "deploy" / "nginx" / "draftroom-cdn.conf"


class CountRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths[scope["path"]] += 1
        await self.app(scope, receive, send)


@pytest.fixture
async def origin(tmp_path: Path) -> AsyncIterator[tuple[int, CountRequests]]:
    build_web()
    counted = CountRequests(create_app(make_settings(tmp_path / "data", allow_anonymous=False)))
    config = uvicorn.Config(counted, host="127.0.0.1", port=0, lifespan="on", log_config=None)
    async with serving(config) as port:
        yield port, counted


@pytest.fixture
def edge(tmp_path: Path, origin: tuple[int, CountRequests]) -> Iterator[str]:
    port = free_port()
    prefix = tmp_path / "nginx"
    (prefix / "cache").mkdir(parents=True)
    conf = (
        SNIPPET.read_text()
        .replace("127.0.0.1:8000", f"127.0.0.1:{origin[0]}")
        .replace("/var/cache/nginx/draftroom", str(prefix / "cache"))
        .replace("listen 8080;", f"listen 127.0.0.1:{port};")
    )
    (prefix / "draftroom-cdn.conf").write_text(conf)
    user = "user root;" if os.geteuid() == 0 else ""
    temp = " ".join(
        f"{kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"{user} worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; {temp}\n include {prefix}/draftroom-cdn.conf; }}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
    )
    try:
        _wait_up(port, proc, prefix)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_up(port: int, proc: subprocess.Popen[bytes], prefix: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((prefix / "error.log").read_text())
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start")


async def _load(client: httpx.AsyncClient, base: str) -> list[httpx.Response]:
    """What a browser fetches for a cold load of a document's page."""
    page = await client.get(f"{base}/d/chapter-1", headers={"Accept-Encoding": "br, gzip"})
    links = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert links, page.text
    responses = [page]
    for link in links:
        responses.append(await client.get(f"{base}{link}", headers={"Accept-Encoding": "br, gzip"}))
    return responses


async def test_the_second_load_comes_from_the_edge_cache(
    edge: str, origin: tuple[int, CountRequests]
) -> None:
    counted = origin[1]
    async with httpx.AsyncClient() as client:
        first = await _load(client, edge)
        assert all(r.status_code == 200 for r in first)
        assert [r.headers["x-cache-status"] for r in first] == ["MISS"] * len(first)
        origin_hits = sum(counted.paths.values())
        assert origin_hits == len(first)

        second = await _load(client, edge)
        assert [r.headers["x-cache-status"] for r in second] == ["HIT"] * len(second)
        assert sum(counted.paths.values()) == origin_hits, "the origin was asked again"
        for a, b in zip(first, second, strict=True):
            assert a.content == b.content
        asset = second[1]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["content-encoding"] == "br"
        # The API is never cached: it reaches the origin every time.
        await client.get(f"{edge}/healthz")
        await client.get(f"{edge}/healthz")
        await eventually(lambda: counted.paths["/healthz"] == 2)

"""Smoke test of a running Draftroom, from the outside: what an operator checks
after a deploy. scripts/smoke-image runs it against a freshly built container.

    python deploy/smoke.py --url http://127.0.0.1:8000 --user alice --password-stdin

It checks /healthz and /readyz, logs in, opens a WebSocket, waits for the server's
"saved" acknowledgement of an edit, sees the edit arrive live on a second
connection (opened before the edit, on ``--peer-url`` if given: another node, so
the edit crosses Redis) and exports the document as DOCX and PDF. Exit status 0 only if
all of that worked; each step prints one line with its timing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable

import httpx

from draftroom.client import DraftroomClient


def step(name: str, started: float, detail: str = "") -> None:
    print(f"ok  {name:<10} {1000 * (time.perf_counter() - started):7.1f} ms  {detail}", flush=True)


def _pdf_objects(pdf: bytes) -> bytes:
    """The PDF with its compressed streams inflated (font descriptors sit in them)."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            pass
    return b"".join(parts)


async def _until(predicate: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within} s")
        await asyncio.sleep(0.02)


async def smoke(url: str, peer_url: str, user: str, password: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        t = time.perf_counter()
        health = await http.get("/healthz")
        assert health.status_code == 200, health.text
        step("healthz", t, health.text)

        t = time.perf_counter()
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        step("readyz", t, ready.text)

        t = time.perf_counter()
        login = await http.post("/api/sessions", json={"username": user, "password": password})
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        step("login", t, f"as {user}")

        doc = f"smoke-{uuid.uuid4().hex[:8]}"
        text = f"Draftroom smoke test {doc}"
        path = f"/ws/{doc}?token={token}"
        ws, peer_ws = (u.replace("http", "ws", 1) + path for u in (url, peer_url))
        async with DraftroomClient(peer_ws) as peer, DraftroomClient(ws) as writer:
            t = time.perf_counter()
            n = writer.insert(text)
            version = await writer.wait_saved(n)
            step("saved", t, f"{doc} version {version}")
            await _until(lambda: str(peer.text) == text, 10)
            step("peer-sees", t, f"{len(text)} characters on {peer_url}")

        t = time.perf_counter()
        headers = {"Authorization": f"Bearer {token}"}
        docx = await http.get(f"/api/documents/{doc}/export/docx", headers=headers)
        assert docx.status_code == 200, docx.text
        with zipfile.ZipFile(io.BytesIO(docx.content)) as archive:
            body = archive.read("word/document.xml").decode()
        assert doc in body, "exported DOCX does not contain the text"
        step("docx", t, f"{len(docx.content)} bytes")

        # PDF goes through WeasyPrint, Pango, HarfBuzz and the fonts the image carries.
        t = time.perf_counter()
        pdf = await http.get(f"/api/documents/{doc}/export/pdf", headers=headers)
        assert pdf.status_code == 200, pdf.text
        assert pdf.content.startswith(b"%PDF-"), pdf.content[:40]
        assert b"/FontFile" in _pdf_objects(pdf.content), "the PDF embeds no font"
        step("pdf", t, f"{len(pdf.content)} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--peer-url", help="a second node (default: --url)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-stdin", action="store_true", required=True)
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        url = args.url.rstrip("/")
        asyncio.run(smoke(url, (args.peer_url or url).rstrip("/"), args.user, password))
    except (AssertionError, httpx.HTTPError, OSError, TimeoutError) as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

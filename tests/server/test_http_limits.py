"""Hostile HTTP clients against a real ``draftroom serve``: huge bodies, slow requests.

Each attack must be refused without costing the server the attacker's bytes
(its peak memory stays low) or a file descriptor forever (slow requests are
closed within their deadline).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

MB = 1024 * 1024


def _peak_rss(pid: int) -> int:
    """Peak resident memory of a process in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    return sock


def _send_body(sock: socket.socket, head: bytes, total: int, chunked: bool) -> None:
    """Send the request head, then up to ``total`` body bytes until the server hangs up."""
    sock.sendall(head)
    block = b"x" * (256 * 1024)
    sent = 0
    try:
        while sent < total:
            if chunked:
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            else:
                sock.sendall(block)
            sent += len(block)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused early: what we want


def _response(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_login_body_is_refused_before_it_is_read(
    draftroom_process: Any, chunked: bool
) -> None:
    node = draftroom_process(anonymous=False)
    assert node.pid is not None
    before = _peak_rss(node.pid)
    size = 300 * MB
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
    head = (
        b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n"
    )
    with _connect(node.port) as sock:
        _send_body(sock, head, size, chunked)
        reply = _response(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b'"error":"too_large"' in reply
    grown = _peak_rss(node.pid) - before
    assert grown < 40 * MB, f"peak RSS grew by {grown / MB:.0f} MB for a refused body"


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock``, trickling a byte of ``trickle`` every
    0.2 s meanwhile; fails if still open after ``seconds``."""
    start = time.monotonic()
    sock.settimeout(0.2)
    pending = trickle
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if pending:
            try:
                sock.sendall(pending[:1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
            pending = pending[1:]
    raise AssertionError(f"the server kept a slow request open for over {seconds} s")


def test_slow_requests_are_closed_within_their_deadlines(draftroom_process: Any) -> None:
    node = draftroom_process("--header-timeout-seconds", "1", "--body-timeout-seconds", "1.5")
    # Headers sent a byte at a time, never finished: closed at the header deadline,
    # however steadily the bytes keep coming.
    with _connect(node.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        took = _closed_within(sock, 5, trickle=b"X-Slow: " + b"a" * 100)
        assert 0.8 < took < 3
    # A connection that never sends anything.
    with _connect(node.port) as sock:
        assert _closed_within(sock, 5) < 3
    # Headers complete, the body never is.
    with _connect(node.port) as sock:
        sock.sendall(
            b"POST /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        took = _closed_within(sock, 6, trickle=b"a" * 100)
        assert 1.2 < took < 4
    # A prompt client on a keep-alive connection is unaffected.
    with _connect(node.port) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(0.6)


async def test_a_websocket_outlives_the_request_deadlines(draftroom_process: Any) -> None:
    # The deadlines are for the HTTP request; once upgraded, the socket lives on.

    from draftroom.client import DraftroomClient

    node = draftroom_process("--header-timeout-seconds", "1", "--body-timeout-seconds", "1.5")
    async with DraftroomClient(node.ws_url("long")) as client:
        for _ in range(8):  # 4 s: past both deadlines
            await client.wait_saved(client.insert("x"))
            await asyncio.sleep(0.5)
        assert client.close_code is None

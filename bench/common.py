"""Shared helpers for the Draftroom benchmarks (bench/save_latency.py, bench/fanout.py).

- ``draftroom_server`` / ``node_server``: the two servers compared, as
  ``devtools.process.ServerProcess`` (pinned with ``taskset -c 0`` when available, in its
  own session, ready when an HTTP URL answers 200, CPU and RSS accounted with psutil,
  stopped by its PID / process group only). The supervisor and the CPU helpers are
  re-exported here so the scripts keep one import.
- ``WSClient``: a lightweight raw-bytes WebSocket client (an ``asyncio.Protocol``, no
  per-frame Python objects beyond the payload bytes). It answers pings, echoes close
  frames, and hands binary payloads to a callback. It masks with a zero key (payload
  bytes unchanged) to avoid an XOR per frame; servers accept any key.
- y-websocket framing helpers (no pycrdt decode of incoming updates).
- ``percentiles``, ``machine_info``, Markdown table rendering.

All traffic is on 127.0.0.1. Every wait here is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as _dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devtools.process import (  # noqa: F401  (re-exported for the bench scripts)
    LOOPBACK,
    CoreMeter,
    ServerProcess,
    free_port,
    pin_generator,
    server_cpu,
    tree_cpu_seconds,
    wait_for_quiet,
)
from draftroom.crdt.protocol import read_varuint

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------
# machine / CPU pinning


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "taskset": shutil.which("taskset") is not None,
    }


def source_revision(source: str | None) -> str:
    """What code the Draftroom server runs: a --source dir, or the checkout's HEAD (+dirty)."""
    if source:
        rev = Path(source) / "REV"
        return f"{source}" + (f" (rev {rev.read_text().strip()})" if rev.exists() else "")
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "draftroom"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return f"checkout {head}" + (" + uncommitted changes in draftroom/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_line(info: Mapping[str, Any]) -> str:
    return (
        f"Machine: nproc={info['nproc']}, CPU: {info['cpu_model']}, kernel {info['kernel']}, "
        f"Python {info['python']}; run at {info['date']}"
    )


def _serve_accepts(flag: str, source: str | None) -> bool:
    """Whether this revision's ``draftroom serve`` has ``flag`` (older ones had no auth)."""
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = str(Path(source).resolve())
    out = subprocess.run(
        [sys.executable, "-m", "draftroom", "serve", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return flag in out.stdout


def install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


# --------------------------------------------------------------------------------------------
# pass or fail: a benchmark that cannot fail hides a run that never happened


def load_failures(
    label: str,
    *,
    wanted: int,
    connected: int,
    measured: float,
    errors_total: int,
    errors: Any = None,
) -> list[str]:
    """Why one load run does not count: fewer clients connected than asked for, nothing
    measured, or any error. Empty when the run is good."""
    out = []
    if connected < wanted:
        out.append(f"{label}: only {connected:,} of {wanted:,} clients connected")
    if not measured:
        out.append(f"{label}: nothing was measured")
    if errors_total:
        out.append(f"{label}: {errors_total:,} errors {errors if errors is not None else ''}")
    return out


def exit_status(failures: Sequence[str]) -> int:
    """Print each failure to stderr; 1 if there were any, else 0."""
    for reason in failures:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if failures else 0


# --------------------------------------------------------------------------------------------
# statistics / output


def percentiles(values: Sequence[float], ps: Iterable[float] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles plus max/mean/count. Empty input gives NaNs."""
    out: dict[str, float] = {}
    if not values:
        for p in ps:
            out[f"p{p:g}"] = float("nan")
        out.update(max=float("nan"), mean=float("nan"), n=0)
        return out
    data = sorted(values)
    n = len(data)
    for p in ps:
        k = max(0, min(n - 1, int(-(-p * n // 100)) - 1))  # ceil(p/100*n) - 1
        out[f"p{p:g}"] = data[k]
    out["max"] = data[-1]
    out["mean"] = sum(data) / n
    out["n"] = n
    return out


def fmt(x: Any, digits: int = 1) -> str:
    if isinstance(x, float):
        if x != x:  # NaN
            return "n/a"
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# server processes


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``finally`` blocks stop our servers."""

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, _raise)


def draftroom_server(
    *,
    port: int,
    data_dir: Path,
    log_dir: Path,
    database_url: str | None = None,
    extra: Sequence[str] = (),
    source: str | None = None,
) -> ServerProcess:
    """``python -m draftroom serve``. ``source``: a directory holding a ``draftroom``
    package to run instead of the installed one (e.g. ``git archive HEAD draftroom``
    unpacked somewhere, to benchmark a fixed revision while the checkout changes)."""
    argv = [
        sys.executable,
        "-m",
        "draftroom",
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        *extra,
    ]
    if "--allow-anonymous" not in extra and _serve_accepts("--allow-anonymous", source):
        argv.append("--allow-anonymous")  # loopback only: benchmarks have no accounts
    if database_url:
        argv += ["--database-url", database_url]
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    if source:
        src = str(Path(source).resolve())
        if not (Path(src) / "draftroom" / "__init__.py").is_file():
            raise RuntimeError(f"--source {src}: no draftroom/__init__.py there")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return ServerProcess(
        "draftroom",
        argv,
        ready_url=f"http://{LOOPBACK}:{port}/healthz",
        log_dir=log_dir,
        env=env,
        cwd=data_dir,
        cpu=server_cpu(),
    )


NODE_DIR = BENCH / "node"
NODE_SERVER_JS = NODE_DIR / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"


def ensure_node_server() -> Path:
    """bench/node/node_modules installed (``npm ci``) and the server entry present."""
    if not NODE_SERVER_JS.exists():
        npm = shutil.which("npm")
        if not npm:
            raise RuntimeError("npm not found: install Node.js 18+ to run the reference server")
        cmd = [npm, "ci", "--no-audit", "--no-fund"]
        r = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not NODE_SERVER_JS.exists():
            raise RuntimeError(f"npm ci in {NODE_DIR} failed:\n{r.stdout}\n{r.stderr}")
    return NODE_SERVER_JS


def node_server(*, port: int, log_dir: Path) -> ServerProcess:
    """``@y/websocket-server`` 0.1.1 (yjs 13.6.33): in memory, GC on, rooms at ``/<room>``."""
    script = ensure_node_server()
    node = shutil.which("node") or "node"
    env = dict(os.environ)
    env.update(HOST=LOOPBACK, PORT=str(port))
    env.pop("YPERSISTENCE", None)
    return ServerProcess(
        "node-y-websocket-server",
        [node, str(script)],
        ready_url=f"http://{LOOPBACK}:{port}/",
        log_dir=log_dir,
        env=env,
        cwd=NODE_DIR,
        cpu=server_cpu(),
    )


# --------------------------------------------------------------------------------------------
# y-websocket framing (bytes only)

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_APP = 100
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2
EMPTY_UPDATE = b"\x00\x00"
EMPTY_STATE_VECTOR = b"\x00"


def sync_payload(frame: bytes) -> bytes:
    """The varbytes payload of a sync frame (type byte and subtype byte already known)."""
    n, pos = read_varuint(frame, 2)
    return frame[pos : pos + n]


# --------------------------------------------------------------------------------------------
# a raw WebSocket client


_ZERO_MASK = b"\x00\x00\x00\x00"


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """A masked client frame (FIN set). The mask key is zero, so the payload is as-is."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _ZERO_MASK + payload


class WSClient(asyncio.Protocol):
    """One WebSocket connection. ``on_message(client, payload)`` gets each binary message.

    Attributes a benchmark reads: ``open`` (after handshake), ``close_code`` (from the
    server's close frame, or 1006 for a dropped connection), ``error`` (text)."""

    __slots__ = (
        "_buf",
        "_frag",
        "_handshake",
        "close_code",
        "closed",
        "error",
        "host_header",
        "on_close",
        "on_message",
        "open",
        "opened",
        "path",
        "transport",
        "user",
    )

    def __init__(
        self,
        host_header: str,
        path: str,
        on_message: Callable[[WSClient, bytes], None],
        on_close: Callable[[WSClient], None] | None = None,
        user: Any = None,
    ) -> None:
        self.host_header = host_header
        self.path = path
        self.on_message = on_message
        self.on_close = on_close
        self.user = user
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open = False
        self.closed = False
        self.close_code: int | None = None
        self.error = ""
        self._handshake = bytearray()
        self._buf = b""
        self._frag: list[bytes] | None = None

    # asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host_header}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "User-Agent: draftroom-bench\r\n\r\n"
        )
        transport.write(req.encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self._handshake += data
            end = self._handshake.find(b"\r\n\r\n")
            if end < 0:
                if len(self._handshake) > 65536:
                    self._fail("handshake too long")
                return
            status = bytes(self._handshake[: self._handshake.find(b"\r\n")])
            rest = bytes(self._handshake[end + 4 :])
            self._handshake = bytearray()
            if b" 101 " not in status + b" ":
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self.open = True
            if not self.opened.done():
                self.opened.set_result(None)
            if not rest:
                return
            data = rest
        buf = self._buf + data if self._buf else data
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            hdr = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                hdr = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            if b1 & 0x80:  # servers must not mask; tolerate it anyway
                hdr += 4
            if end - pos < hdr + n:
                break
            payload = buf[pos + hdr : pos + hdr + n]
            if b1 & 0x80:
                mask = buf[pos + hdr - 4 : pos + hdr]
                payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
            pos += hdr + n
            opcode = b0 & 0x0F
            if opcode == 0x2 or opcode == 0x1:
                if b0 & 0x80:
                    self.on_message(self, payload)
                else:
                    self._frag = [payload]
            elif opcode == 0x0:
                if self._frag is not None:
                    self._frag.append(payload)
                    if b0 & 0x80:
                        whole = b"".join(self._frag)
                        self._frag = None
                        self.on_message(self, whole)
            elif opcode == 0x9:  # ping -> pong
                self._write(ws_frame(payload, 0xA))
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.close_code is None:
                    self.close_code = code
                self._write(ws_frame(payload[:2], 0x8))
                if self.transport is not None:
                    self.transport.close()
                self._buf = b""
                return
        self._buf = buf[pos:] if pos < end else b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.close_code is None:
            self.close_code = 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.error or f"connection lost: {exc}"))
        if self.on_close is not None:
            self.on_close(self)

    # API -------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def _fail(self, why: str) -> None:
        self.error = why
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def send(self, payload: bytes) -> None:
        self._write(ws_frame(payload))

    def close(self, code: int = 1000) -> None:
        """Send a close frame and drop the TCP connection (no wait for the echo)."""
        if self.transport is None or self.transport.is_closing():
            return
        self._write(ws_frame(code.to_bytes(2, "big"), 0x8))
        self.transport.close()


async def ws_connect(
    host: str,
    port: int,
    path: str,
    on_message: Callable[[WSClient, bytes], None],
    *,
    on_close: Callable[[WSClient], None] | None = None,
    user: Any = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - one bound for TCP connect + handshake
) -> WSClient:
    loop = asyncio.get_running_loop()

    async def _go() -> WSClient:
        _, proto = await loop.create_connection(
            lambda: WSClient(f"{host}:{port}", path, on_message, on_close, user), host, port
        )
        await proto.opened
        return proto

    return await asyncio.wait_for(_go(), timeout)


class RateLimiter:
    """Start at most ``rate`` things per second (schedule-based, bounded sleeps)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next > now:
            await asyncio.sleep(self.next - now)
        self.next = max(self.next, now) + self.interval

"""Shared helpers for the Draftroom benchmarks (bench/save_latency.py, bench/fanout.py).

- ``ServerProcess``: start a server as our own subprocess (pinned with ``taskset -c 0``
  when available, in its own session), wait until an HTTP readiness URL answers 200,
  account its CPU time and RSS with psutil, stop it by its PID / process group only.
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
import atexit
import base64
import contextlib
import datetime as _dt
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from draftroom.crdt.protocol import read_varuint

LOOPBACK = "127.0.0.1"
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


def server_cpu() -> int | None:
    """Core the server is pinned to (0), or None on a single-core box / without taskset."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return 0
    return None


def pin_generator() -> None:
    """Pin the calling process to core 1 (the server has core 0), when there are 2+ cores."""
    if (os.cpu_count() or 1) >= 2:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, {1})


def install_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


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

_LIVE: list[ServerProcess] = []


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ServerProcess:
    """One server we start and own. ``argv`` is run under ``taskset -c <cpu>`` (taskset
    execs, so our PID is the server's PID) in a new session (pgid == pid)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_url: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        cpu: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.ready_url = ready_url
        self.log_dir = Path(log_dir)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.cpu = cpu
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None
        self.log_path = self.log_dir / f"{name}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ServerProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        argv = list(self.argv)
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu), *argv]
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        _LIVE.append(self)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited during startup:\n{self.log_tail()}")
            if _http_ok(self.ready_url):
                self.ps = psutil.Process(self.proc.pid)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready at {self.ready_url}:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process (all its threads)."""
        assert self.ps is not None
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the server process."""
        assert self.ps is not None
        t = self.ps.cpu_times()
        return float(t.user), float(t.system)

    def rss_bytes(self) -> int:
        assert self.ps is not None
        return int(self.ps.memory_info().rss)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM our PID, wait; then SIGKILL our own process group (only what we started)."""
        if self.proc is None:
            return None
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self in _LIVE:
            _LIVE.remove(self)
        return self.proc.returncode


class CoreMeter:
    """Busy % per core between start() and stop(), machine-wide: compare core 0 with the
    server's own CPU % to see interference from other processes on the server's core."""

    def __init__(self) -> None:
        self._a: list[Any] = []

    def start(self) -> None:
        self._a = psutil.cpu_times(percpu=True)

    def stop(self) -> list[float]:
        out = []
        for a, b in zip(self._a, psutil.cpu_times(percpu=True), strict=False):
            total = sum(b) - sum(a)
            idle = (b.idle + getattr(b, "iowait", 0.0)) - (a.idle + getattr(a, "iowait", 0.0))
            out.append(100.0 * (total - idle) / total if total > 0 else 0.0)
        return out


def wait_for_quiet(max_wait: float, threshold: float = 20.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine's total CPU busy % over one second is
    below ``threshold`` (other engineers' test runs share this box). Returns seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        if psutil.cpu_percent(interval=1.0) < threshold:
            break
    return time.monotonic() - t0


def group_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process and all its live children (e.g. postgres backends)."""
    total = 0.0
    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@atexit.register
def _kill_leftovers() -> None:
    for s in list(_LIVE):
        with contextlib.suppress(Exception):
            s.stop(timeout=5)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``finally`` blocks stop our servers."""

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, _raise)


def load_test_services() -> Any:
    """tests/services.py (PostgresServer etc.), loaded by path: ``tests`` is not a regular
    package, and another distribution's ``tests`` package could shadow it."""
    import importlib.util

    path = REPO / "tests" / "services.py"
    spec = importlib.util.spec_from_file_location("draftroom_test_services", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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

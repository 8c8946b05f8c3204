"""redis-server on a free loopback port, and a tiny dependency-free RESP client.

The RESP client lets fixtures, the cluster and benchmarks poke Redis (PING, FLUSHALL,
CONFIG) from synchronous code without an event loop or the redis-py client.

    r = RedisServer(extra_args=["--maxmemory", "20mb"]); r.start(); r.restart(); r.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.process import LOOPBACK, External, LoopbackService, ServiceError, port_open


def find_redis_server() -> str:
    exe = os.environ.get("DRAFTROOM_REDIS_SERVER") or shutil.which("redis-server")
    if not exe:
        for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
            if os.access(p, os.X_OK):
                exe = p
                break
    if not exe:
        raise ServiceError(
            "redis-server not found on PATH -- run scripts/test (it apt-installs "
            "'redis-server'), set DRAFTROOM_REDIS_SERVER, or set DRAFTROOM_TEST_REDIS_URL"
        )
    return exe


def _resp_encode(args: Sequence[str | bytes | int]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _resp_read(f: Any) -> Any:
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ServiceError(f"redis error: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise ServiceError(f"unexpected redis reply {line!r}")


def redis_command(url_or_port: str | int, *args: str | bytes | int, timeout: float = 5.0) -> Any:
    """Send one command to redis (tiny sync RESP client, no dependencies)."""
    if isinstance(url_or_port, int):
        host, port, db = LOOPBACK, url_or_port, 0
    else:
        u = urllib.parse.urlsplit(url_or_port)
        host, port = u.hostname or LOOPBACK, u.port or 6379
        db = int(u.path.strip("/") or 0)
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        if db:
            s.sendall(_resp_encode(["SELECT", db]))
            _resp_read(f)
        s.sendall(_resp_encode(args))
        return _resp_read(f)


class RedisServer(LoopbackService):
    """redis-server on 127.0.0.1:<port>, no persistence by default, files in a temp dir.
    extra_args are appended to the command line, e.g. ["--maxmemory", "10mb"]."""

    name = "redis"

    def __init__(
        self,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="draftroom-redis-"))
        super().__init__(port, self.dir, startup_timeout)
        self.exe = find_redis_server()
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def command(self, *args: str | bytes | int) -> Any:
        return redis_command(self.port, *args)

    def ping(self) -> bool:
        try:
            return bool(self.command("PING") == "PONG")
        except (OSError, ServiceError):
            return False

    def start(self) -> RedisServer:
        if not self.running:
            self._start_on_its_port()
        return self

    def _start_once(self) -> None:
        argv = [
            self.exe, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
            "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
            "--logfile", "", "--protected-mode", "no", *self.extra_args,
        ]  # fmt: skip
        self._spawn(argv, log_path=self.dir / "redis.log", cwd=self.dir)
        self._await_ready(
            self.ping, f"no answer to PING on port {self.port}", self.startup_timeout, 0.02
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown (SIGTERM)."""
        self._stop_gracefully(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._kill_group()

    def restart(self) -> RedisServer:
        """Stop (if running) and start again on the SAME port."""
        if self.running:
            self.stop()
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._start_once()
        return self


class ExternalRedis(External):
    name = "DRAFTROOM_TEST_REDIS_URL"

    def command(self, *args: Any) -> Any:
        return redis_command(self.url, *args)

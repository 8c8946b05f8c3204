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

from devtools.process import LOOPBACK, External, ManagedProcess, ServiceError, free_port, port_open


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


class RedisServer(ManagedProcess):
    """redis-server on 127.0.0.1:<port>, no persistence by default, files in a temp dir.
    extra_args are appended to the command line, e.g. ["--maxmemory", "10mb"]."""

    name = "redis"

    def __init__(
        self,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__()
        self.exe = find_redis_server()
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="draftroom-redis-"))

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
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                self._fixed_port = True  # later (re)starts keep this port: URLs stay valid
                return self
            except ServiceError:
                if attempt == attempts - 1 or not port_open(self.port):
                    raise
                self.port = free_port()  # lost a race for the port: pick another
        return self

    def _start_once(self) -> None:
        argv = [
            self.exe, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
            "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
            "--logfile", "", "--protected-mode", "no", *self.extra_args,
        ]  # fmt: skip
        self._spawn(argv, log_path=self.dir / "redis.log", cwd=self.dir)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServiceError(f"redis-server exited during startup.\n{self.describe_logs()}")
            if self.ping():
                return
            time.sleep(0.02)
        self._kill_group()
        raise ServiceError(
            f"redis did not answer PING on port {self.port} within {self.startup_timeout}s."
            f"\n{self.describe_logs()}"
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

    def cleanup(self) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            self._kill_group()
            shutil.rmtree(self.dir, ignore_errors=True)


class ExternalRedis(External):
    name = "DRAFTROOM_TEST_REDIS_URL"

    def command(self, *args: Any) -> Any:
        return redis_command(self.url, *args)

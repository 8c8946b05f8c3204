"""``python -m draftroom serve`` as a subprocess on a free loopback port.

start() waits for GET /healthz == 200; stdout and stderr go to log files whose tails are in
every failure message. kill9() is a crash (no shutdown hooks), terminate() a graceful stop.

    p = DraftroomProcess(extra_args=["--database-url", url]); p.start(); p.kill9(); p.restart()
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.process import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    http_ok,
    port_open,
    tail,
)


class DraftroomProcess(ManagedProcess):
    """`python -m draftroom serve --host 127.0.0.1 --port P --data-dir D *extra_args` as a
    subprocess. start() waits for GET /healthz == 200; stdout/stderr go to log files in
    `log_dir` and are shown in every failure message."""

    name = "draftroom"

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
        module: str = "draftroom",
        python: str = sys.executable,
    ) -> None:
        super().__init__()
        self.extra_args = [str(a) for a in extra_args]
        self.env_overrides = dict(env or {})
        # our own temp dir only when the caller gave no data/log dir (removed by cleanup())
        self._tmp: Path | None = None
        if data_dir is None or log_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="draftroom-proc-"))
        self.data_dir = Path(data_dir) if data_dir is not None else self._tmp_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = Path(log_dir) if log_dir is not None else self._tmp_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.module = module
        self.python = python
        self.starts = 0

    @property
    def _tmp_dir(self) -> Path:
        assert self._tmp is not None
        return self._tmp

    @property
    def argv(self) -> list[str]:
        return [
            self.python, "-m", self.module, "serve", "--host", LOOPBACK,
            "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args,
        ]  # fmt: skip

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_base(self) -> str:
        """serverUrl for y-websocket's WebsocketProvider (it appends '/' + room)."""
        return f"ws://{LOOPBACK}:{self.port}/ws"

    def ws_url(self, doc_id: str) -> str:
        return f"{self.ws_base}/{doc_id}"

    def describe_logs(self) -> str:
        return (
            f"--- draftroom {self.argv}\n--- stderr tail ({self.stderr_path}):\n"
            f"{tail(self.stderr_path)}\n--- stdout tail ({self.stdout_path}):\n"
            f"{tail(self.stdout_path, 20)}"
        )

    def _healthy(self) -> bool:
        return http_ok(f"{self.http_url}/healthz")

    def start(self) -> DraftroomProcess:
        if self.running:
            return self
        env = dict(os.environ)
        env.update(self.env_overrides)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._spawn(
            self.argv, log_path=self.stdout_path, err_path=self.stderr_path, env=env,
            cwd=self.data_dir,
        )  # fmt: skip
        self.starts += 1
        self._await_ready(
            self._healthy, f"GET {self.http_url}/healthz not 200", self.startup_timeout
        )
        return self

    def kill9(self) -> None:
        """SIGKILL the server (and anything it spawned): a crash, no shutdown hooks."""
        self._kill_group()

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a graceful exit; returns the exit code. Raises ServiceError
        (after SIGKILL) if it did not exit in time."""
        return self._stop_gracefully(signal.SIGTERM, timeout)

    def restart(self, timeout: float = 15.0) -> DraftroomProcess:
        """terminate() if still running, then start() on the same port and data dir."""
        if self.running:
            self.terminate(timeout)
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.start()

    def cleanup(self, remove_tmp: bool = False) -> None:
        """Stop (terminate, else SIGKILL). remove_tmp=True also deletes the temp dir this
        object created for itself (never a data_dir/log_dir the caller passed in)."""
        try:
            if self.running:
                self.terminate()
        finally:
            self._kill_group()
            if remove_tmp and self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<DraftroomProcess port={self.port} pid={self.pid} data_dir={self.data_dir}>"

"""The one process supervisor: start a child in its own session, wait until it is ready,
account its CPU, and stop it by its own PID or process group only.

Tests, benchmarks, load tests and the local cluster all start real servers. They share this
supervisor so that every one of them gets the same guarantees: output goes to a log file
whose tail is shown in every failure, every wait is bounded, and leftovers are killed at
interpreter exit (only processes we started: each child is a session leader, so its process
group is exactly what it spawned).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service could not be found, started or stopped."""


# Every process object we started, so an atexit hook can SIGKILL leftovers (by our own PID /
# process group only) if a session dies before its teardown ran.
_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Under pytest-xdist each worker takes ports from a block of its own, in turn, below
    the kernel's ephemeral range: the port is free until its server binds it although
    other workers pick ports and open connections meanwhile (the kernel could give the
    same ephemeral port to a second caller, or to a connection's source port, in that
    gap), and one worker does not hand out a port twice in quick succession.
    """
    global _block_ports
    block = _worker_block()
    if block is not None:
        with _block_lock:  # tests call this from executor threads too
            if _block_ports is None:
                _block_ports = _walk(block)
            for _ in range(len(block)):
                port = next(_block_ports)
                if _bindable(port):
                    return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


_BLOCK_SIZE = 500
_LOWEST_PORT = 10000


@functools.cache
def _worker_block() -> range | None:
    """This xdist worker's ports ("gw3" -> the fourth block), or None outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    blocks = (low - _LOWEST_PORT) // _BLOCK_SIZE
    if blocks < 1:
        return None
    start = _LOWEST_PORT + (int(worker[2:]) % blocks) * _BLOCK_SIZE
    return range(start, start + _BLOCK_SIZE)


def _walk(block: range) -> Iterator[int]:
    # From a random start: two test runs on one machine (two checkouts) use the same
    # blocks, and should not walk them in step.
    i = random.randrange(len(block))
    while True:
        yield block[i % len(block)]
        i += 1


_block_ports: Iterator[int] | None = None
_block_lock = threading.Lock()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """GET ``url`` answered 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"<{path} unreadable>"
    return "\n".join(lines[-n:])


class ManagedProcess:
    """One subprocess we own: started in its own session so its whole group can be killed."""

    name = "process"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        err_path: Path | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cpu: int | None = None,
    ) -> None:
        """Start ``argv``; with ``cpu``, under ``taskset -c cpu`` (taskset execs, so the
        PID we hold is the program's own)."""
        argv = list(argv)
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")
        err = open(err_path, "ab") if err_path else subprocess.STDOUT
        stamp = f"\n----- {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode()
        out.write(stamp)
        out.flush()
        if err_path and not isinstance(err, int):
            err.write(stamp)
            err.flush()
        kwargs: dict[str, Any] = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                **kwargs,
            )
        finally:
            out.close()
            if not isinstance(err, int):
                err.close()
        self.log_path = log_path
        _LIVE.add(self)

    def _signal(self, sig: int, group: bool = False) -> None:
        if not self.running:
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            if group:
                # the child is a session leader (start_new_session): its pgid is its pid, so
                # this reaches only processes it started
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def _wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _kill_group(self) -> None:
        """SIGKILL our process and everything left in its process group, then reap."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._wait(10)

    def _stop_gracefully(self, sig: int, timeout: float) -> int | None:
        """Send `sig`, wait; SIGKILL the group if it did not exit. Returns the exit code."""
        if self.proc is None:
            return None
        if self.running:
            self._signal(sig)
            if self._wait(timeout) is None:
                self._kill_group()
                raise ServiceError(
                    f"{self.name} (pid {self.proc.pid}) did not exit within {timeout}s of "
                    f"signal {sig}; killed it.\n{self.describe_logs()}"
                )
        # reap stragglers from the group (e.g. postgres backends after a postmaster crash)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def describe_logs(self) -> str:
        if self.log_path is None:
            return ""
        return f"--- {self.name} log tail ({self.log_path}):\n{tail(self.log_path)}"

    def _await_ready(
        self, ready: Callable[[], bool], not_ready: str, timeout: float, interval: float = 0.05
    ) -> None:
        """Poll ``ready`` until it holds. If the child exits first, or ``timeout`` passes
        (then its group is killed), raise a ServiceError with the tail of its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.proc.returncode if self.proc is not None else None
                raise ServiceError(
                    f"{self.name} exited with {code} during startup.\n{self.describe_logs()}"
                )
            if ready():
                return
            time.sleep(interval)
        self._kill_group()
        raise ServiceError(f"{self.name}: {not_ready} within {timeout}s.\n{self.describe_logs()}")

    # -- CPU and memory accounting --

    @property
    def ps(self) -> Any:
        """The psutil view of the process (psutil: the test and bench extras install it)."""
        import psutil

        assert self.proc is not None, f"{self.name} was never started"
        return psutil.Process(self.proc.pid)

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process (all its threads)."""
        t = self.ps.cpu_times()
        return float(t.user), float(t.system)

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def rss_bytes(self) -> int:
        return int(self.ps.memory_info().rss)


class ServerProcess(ManagedProcess):
    """Any server given as ``argv`` that is ready when ``ready_url`` answers 200 (benchmarks
    use it for Draftroom and for the Node reference server). ``cpu`` pins it to one core."""

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
        super().__init__()
        self.name = name
        self.argv = [str(a) for a in argv]
        self.ready_url = ready_url
        self.log_dir = Path(log_dir)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.cpu = cpu
        self.startup_timeout = startup_timeout
        self.log_path = self.log_dir / f"{name}.log"

    def start(self) -> ServerProcess:
        assert self.log_path is not None
        self._spawn(self.argv, log_path=self.log_path, env=self.env, cwd=self.cwd, cpu=self.cpu)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServiceError(f"{self.name} exited during startup:\n{self.log_tail()}")
            if http_ok(self.ready_url):
                return self
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} not ready at {self.ready_url}:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        return tail(self.log_path, n) if self.log_path is not None else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM our PID and wait; then SIGKILL our own process group. Never raises: a
        benchmark reports a slow shutdown through the server's exit code."""
        if self.proc is None:
            return None
        self._signal(signal.SIGTERM)
        self._wait(timeout)
        self._kill_group()
        return self.proc.returncode


class LoopbackService(ManagedProcess):
    """A server of ours on a loopback port, its files in a temporary ``directory`` that
    ``cleanup()`` deletes (PostgreSQL, Redis, pgbouncer). Subclasses start it once in
    ``_start_once`` and stop it their own way in ``stop``."""

    def __init__(self, port: int | None, directory: Path, startup_timeout: float) -> None:
        super().__init__()
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.directory = directory
        self.startup_timeout = startup_timeout

    def _start_once(self) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 15.0) -> None:
        raise NotImplementedError

    def _start_on_its_port(self) -> None:
        """Start; a port we picked ourselves can be taken by another process before the
        server binds it, so then pick another (three tries). Later (re)starts keep the port
        that worked: URLs handed out stay valid."""
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                self._fixed_port = True
                return
            except ServiceError:
                if attempt == attempts - 1 or not port_open(self.port):
                    raise
                self.port = free_port()

    def cleanup(self) -> None:
        """Stop (if needed), kill what is left of its group, delete its directory."""
        try:
            if self.running:
                self.stop()
        finally:
            self._kill_group()
            shutil.rmtree(self.directory, ignore_errors=True)


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_LIVE):
        if p.running:
            with contextlib.suppress(Exception):
                p._kill_group()


# --------------------------------------------------------------------------------------------
# CPU pinning and accounting for benchmarks and load tests


def parse_cpus(spec: str) -> list[int]:
    """'0,2-3' -> [0, 2, 3], keeping only cores this process may run on."""
    out: list[int] = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    avail = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(out)
    return [c for c in out if c in avail]


def server_cpu() -> int | None:
    """Core a benchmarked server is pinned to (0), or None on one core / without taskset."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return 0
    return None


def pin_generator() -> None:
    """Pin the calling process to core 1 (the server has core 0), when there are 2+ cores."""
    if (os.cpu_count() or 1) >= 2:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(0, {1})


def pin_tree(pid: int, cores: list[int]) -> int:
    """Pin every thread of ``pid`` and of its children to ``cores``; returns threads pinned."""
    import psutil

    if not cores:
        return 0
    n = 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            for t in p.threads():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(t.id, cores)
                    n += 1
    return n


def tree_cpu_seconds(pid: int | None, *, reaped_children: bool = False) -> float:
    """CPU seconds of a process and its live children (e.g. postgres backends);
    ``reaped_children`` adds what exited children used (Locust's worker processes)."""
    import psutil

    if pid is None:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
            if reaped_children:
                total += t.children_user + t.children_system
    return total


def busy_cpu_seconds() -> float:
    """Non-idle CPU seconds of the whole machine (all cores)."""
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def rss_of(pid: int) -> int:
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


class CoreMeter:
    """Busy % per core between start() and stop(), machine-wide: compare core 0 with the
    server's own CPU % to see interference from other processes on the server's core."""

    def __init__(self) -> None:
        self._a: list[Any] = []

    def start(self) -> None:
        import psutil

        self._a = psutil.cpu_times(percpu=True)

    def stop(self) -> list[float]:
        import psutil

        out = []
        for a, b in zip(self._a, psutil.cpu_times(percpu=True), strict=False):
            total = sum(b) - sum(a)
            idle = (b.idle + getattr(b, "iowait", 0.0)) - (a.idle + getattr(a, "iowait", 0.0))
            out.append(100.0 * (total - idle) / total if total > 0 else 0.0)
        return out


def wait_for_quiet(max_wait: float, threshold: float = 20.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine's total CPU busy % over one second is
    below ``threshold`` (other people's test runs share the box). Returns seconds waited."""
    import psutil

    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        if psutil.cpu_percent(interval=1.0) < threshold:
            break
    return time.monotonic() - t0


class External:
    """A service given by URL; we neither started it nor may stop it."""

    name = "external service"

    def __init__(self, url: str) -> None:
        self.url = url

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise ServiceError(
            f"{self.name} {self.url} comes from the environment; this test needs a server it "
            "started itself (unset DRAFTROOM_TEST_*_URL)"
        )

    start = stop = kill = restart = _refuse

    @property
    def running(self) -> bool:
        return True

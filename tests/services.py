"""Real services for the test-suite: PostgreSQL, Redis and the Draftroom server itself.

Every service runs on a free 127.0.0.1 port with its files in a fresh temp dir, is started by
the test session and stopped by the PID it got (or its own process group) at the end. A
missing binary is an error with a clear message, never a skip.

    pg = PostgresServer(); pg.start(); url = pg.create_database("x"); pg.stop()
    r = RedisServer(extra_args=["--maxmemory", "20mb"]); r.start(); r.restart(); r.stop()
    p = DraftroomProcess(extra_args=["--postgres-url", url]); p.start(); p.kill9(); p.restart()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A test service could not be found, started or stopped."""


# Every process object we started, so an atexit hook can SIGKILL leftovers (by our own PID /
# process group only) if a session dies before fixture teardown.
_LIVE: weakref.WeakSet[_ManagedProcess] = weakref.WeakSet()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"<{path} unreadable>"
    return "\n".join(lines[-n:])


class _ManagedProcess:
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
    ) -> None:
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
                list(argv),
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
        return f"--- {self.name} log tail ({self.log_path}):\n{_tail(self.log_path)}"


# --------------------------------------------------------------------------------------------
# PostgreSQL


def find_pg_bindir() -> Path:
    """Directory holding initdb + postgres. $DRAFTROOM_PG_BINDIR, `pg_config --bindir`,
    /usr/lib/postgresql/<newest>/bin, then $PATH."""
    candidates: list[Path] = []
    if os.environ.get("DRAFTROOM_PG_BINDIR"):
        candidates.append(Path(os.environ["DRAFTROOM_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))

    def _ver(p: str) -> float:
        try:
            return float(Path(p).parent.name)
        except ValueError:
            return 0.0

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_ver)[::-1]]
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    raise ServiceError(
        "PostgreSQL server binaries (initdb, postgres) not found; looked in "
        f"{[str(c) for c in candidates] or '(nothing)'} -- run scripts/test (it apt-installs "
        "'postgresql'), set DRAFTROOM_PG_BINDIR, or set DRAFTROOM_TEST_POSTGRES_URL"
    )


def _ensure_postgres_user() -> str:
    """The `postgres` system user (the Debian package creates it; create it if absent)."""
    import grp

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        try:
            grp.getgrnam("postgres")
            group_args = ["--gid", "postgres"]
        except KeyError:
            group_args = ["--user-group"]
        r = subprocess.run(
            ["useradd", "--system", *group_args, "--no-create-home",
             "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash", "postgres"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            raise ServiceError(
                "PostgreSQL will not run as root and creating the 'postgres' user failed: "
                f"{r.stderr.strip()}"
            ) from None
    return "postgres"


def _chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for n in dirs + files:
            os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def run_sql(url: str, *statements: str, timeout: float = 30.0) -> list[list[Any]]:
    """Run statements with asyncpg on a private event loop in a worker thread (safe to call
    from sync fixtures while pytest-asyncio owns the main loop). Returns each statement's rows
    (as lists of values)."""
    result: list[list[Any]] = []
    error: list[BaseException] = []

    async def _go() -> None:
        import asyncpg

        conn = await asyncpg.connect(url, timeout=timeout)
        try:
            for st in statements:
                rows = await conn.fetch(st, timeout=timeout)
                result.append([tuple(r) for r in rows])
        finally:
            await conn.close()

    def _thread() -> None:
        try:
            asyncio.run(_go())
        except BaseException as e:
            error.append(e)

    t = threading.Thread(target=_thread, name="run_sql", daemon=True)
    t.start()
    t.join(timeout + 5)
    if t.is_alive():
        raise ServiceError(f"SQL on {url} did not finish within {timeout}s: {statements}")
    if error:
        raise error[0]
    return result


def database_url(server_url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


class PostgresServer(_ManagedProcess):
    """A throwaway PostgreSQL cluster: initdb in a temp dir, postgres on 127.0.0.1:<port>,
    trust auth, fsync on (durability tests rely on it), small shared_buffers.

    PostgreSQL refuses to run as root: as uid 0, initdb and postgres run as the `postgres`
    system user (created if absent) and the temp dir is chowned to it."""

    name = "postgres"

    def __init__(
        self,
        port: int | None = None,
        extra_conf: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.extra_conf = dict(extra_conf or {})
        self.startup_timeout = startup_timeout
        self.bindir = find_pg_bindir()
        self.run_as = _ensure_postgres_user() if os.geteuid() == 0 else None
        # not under pytest's 0700 tmp dirs: the postgres user must be able to reach it
        self.base = Path(tempfile.mkdtemp(prefix="draftroom-pg-"))
        os.chmod(self.base, 0o700)
        self.datadir = self.base / "data"
        self.sockdir = self.base / "sock"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{name}"

    def _initdb(self) -> None:
        self.sockdir.mkdir(exist_ok=True)
        if self.run_as:
            _chown_tree(self.base, self.run_as)
        log = self.base / "initdb.log"
        argv = [
            str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        kwargs: dict[str, Any] = {}
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        with open(log, "wb") as fh:
            r = subprocess.run(
                argv, stdout=fh, stderr=subprocess.STDOUT, cwd=self.base, env=self._env(),
                timeout=120, check=False, **kwargs,
            )  # fmt: skip
        if r.returncode != 0:
            raise ServiceError(f"initdb failed (exit {r.returncode}):\n{_tail(log)}")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self.run_as:
            env.update(HOME=str(self.base), USER=self.run_as, LOGNAME=self.run_as)
        return env

    def start(self) -> PostgresServer:
        if self.running:
            return self
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
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
        conf = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.sockdir),
            "fsync": "on",
            "shared_buffers": "16MB",
            "max_connections": "200",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "log_connections": "off",
            "dynamic_shared_memory_type": "posix",
            **self.extra_conf,
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for k, v in conf.items():
            argv += ["-c", f"{k}={v}"]
        log = self.base / "postgres.log"
        self._spawn(argv, log_path=log, cwd=self.base, env=self._env(), user=self.run_as)
        if self.run_as:
            with contextlib.suppress(OSError):
                os.chown(log, pwd.getpwnam(self.run_as).pw_uid, -1)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServiceError(f"postgres exited during startup.\n{self.describe_logs()}")
            if port_open(self.port):
                with contextlib.suppress(Exception):  # "the database system is starting up"
                    run_sql(self.url, "select 1", timeout=5)
                    return
            time.sleep(0.05)
        self._kill_group()
        raise ServiceError(
            f"postgres did not accept connections on port {self.port} within "
            f"{self.startup_timeout}s.\n{self.describe_logs()}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, checkpoints, exits."""
        self._stop_gracefully(signal.SIGINT, timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster and all its backends (a crash). start() recovers."""
        self._kill_group()

    def restart(self) -> PostgresServer:
        if self.running:
            self.stop()
        self._start_once()
        return self

    def create_database(self, name: str) -> str:
        run_sql(self.url, f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def cleanup(self) -> None:
        """Stop (if needed) and delete the cluster's directory."""
        try:
            if self.running:
                self.stop()
        finally:
            self._kill_group()
            shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Redis


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


class RedisServer(_ManagedProcess):
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


# --------------------------------------------------------------------------------------------
# The Draftroom server


class DraftroomProcess(_ManagedProcess):
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
            f"{_tail(self.stderr_path)}\n--- stdout tail ({self.stdout_path}):\n"
            f"{_tail(self.stdout_path, 20)}"
        )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

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
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                assert self.proc is not None
                raise ServiceError(
                    f"draftroom exited with {self.proc.returncode} during startup.\n"
                    f"{self.describe_logs()}"
                )
            if self._healthy():
                return self
            time.sleep(0.05)
        self._kill_group()
        raise ServiceError(
            f"draftroom: GET {self.http_url}/healthz not 200 within {self.startup_timeout}s."
            f"\n{self.describe_logs()}"
        )

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


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_LIVE):
        if p.running:
            with contextlib.suppress(Exception):
                p._kill_group()


class _External:
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


class ExternalPostgres(_External):
    name = "DRAFTROOM_TEST_POSTGRES_URL"

    def database_url(self, name: str) -> str:
        return database_url(self.url, name)

    def create_database(self, name: str) -> str:
        run_sql(self.url, f'CREATE DATABASE "{name}"')
        return self.database_url(name)


class ExternalRedis(_External):
    name = "DRAFTROOM_TEST_REDIS_URL"

    def command(self, *args: Any) -> Any:
        return redis_command(self.url, *args)

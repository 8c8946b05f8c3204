"""A throwaway PostgreSQL cluster on a free loopback port, and SQL from synchronous code.

PostgreSQL refuses to run as root, so as uid 0 the cluster runs as the ``postgres`` system
user (created if absent) in a temp dir chowned to it. fsync stays on: durability tests
kill it and check what survived.

    pg = PostgresServer(); pg.start(); url = pg.create_database("x"); pg.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.process import (
    LOOPBACK,
    External,
    LoopbackService,
    ServiceError,
    port_open,
    tail,
)


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


class PostgresServer(LoopbackService):
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
        # not under pytest's 0700 tmp dirs: the postgres user must be able to reach it
        self.base = Path(tempfile.mkdtemp(prefix="draftroom-pg-"))
        os.chmod(self.base, 0o700)
        super().__init__(port, self.base, startup_timeout)
        self.extra_conf = dict(extra_conf or {})
        self.bindir = find_pg_bindir()
        self.run_as = _ensure_postgres_user() if os.geteuid() == 0 else None
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
            raise ServiceError(f"initdb failed (exit {r.returncode}):\n{tail(log)}")

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
        self._start_on_its_port()
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
        self._await_ready(
            lambda: port_open(self.port) and answers_queries(self.url),
            f"no connections accepted on port {self.port}",
            self.startup_timeout,
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


def answers_queries(url: str) -> bool:
    """The server runs queries (not "the database system is starting up")."""
    try:
        run_sql(url, "select 1", timeout=5)
    except Exception:
        return False
    return True


class ExternalPostgres(External):
    name = "DRAFTROOM_TEST_POSTGRES_URL"

    def database_url(self, name: str) -> str:
        return database_url(self.url, name)

    def create_database(self, name: str) -> str:
        run_sql(self.url, f'CREATE DATABASE "{name}"')
        return self.database_url(name)

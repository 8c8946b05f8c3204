"""A throwaway pgbouncer (Debian's package) in transaction mode in front of a test PostgreSQL.

Production runs nodes through pgbouncer in transaction mode, where every transaction may
land on a different server connection; the tests and bench/pooling.py run the real thing
so that any session-level state a node relies on (prepared statements, session advisory
locks, SET, LISTEN) shows up as a failure here rather than in production.

Like PostgreSQL, pgbouncer refuses to run as root: as uid 0 it runs as the ``postgres``
system user, in a temp dir chowned to it.

    bouncer = PgBouncer(pg.port).start(); url = bouncer.database_url("x"); bouncer.cleanup()
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from devtools.postgres import _chown_tree, _ensure_postgres_user, run_sql
from devtools.process import LOOPBACK, ManagedProcess, ServiceError, free_port, port_open


def find_pgbouncer() -> str:
    for candidate in (os.environ.get("DRAFTROOM_PGBOUNCER"), shutil.which("pgbouncer")):
        if candidate and Path(candidate).is_file():
            return candidate
    if Path("/usr/sbin/pgbouncer").is_file():
        return "/usr/sbin/pgbouncer"
    raise ServiceError(
        "pgbouncer not found -- run scripts/test (it apt-installs 'pgbouncer') "
        "or set DRAFTROOM_PGBOUNCER"
    )


class PgBouncer(ManagedProcess):
    """pgbouncer on 127.0.0.1:<port>, pool_mode=transaction, trust auth, every database
    forwarded to the PostgreSQL on ``server_port``, at most ``pool_size`` server
    connections per database and user (pgbouncer's ``default_pool_size``)."""

    name = "pgbouncer"

    def __init__(
        self,
        server_port: int,
        *,
        pool_size: int = 20,
        max_client_conn: int = 2000,
        port: int | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        super().__init__()
        self.server_port = server_port
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.binary = find_pgbouncer()
        self.run_as = _ensure_postgres_user() if os.geteuid() == 0 else None
        self.base = Path(tempfile.mkdtemp(prefix="draftroom-pgbouncer-"))
        os.chmod(self.base, 0o700)

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def _write_config(self) -> Path:
        (self.base / "users.txt").write_text('"postgres" ""\n')
        ini = self.base / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={LOOPBACK} port={self.server_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = {LOOPBACK}\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.base}\n"
            "auth_type = trust\n"
            f"auth_file = {self.base / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            f"max_client_conn = {self.max_client_conn}\n"
            # Waiting clients queue instead of failing; a long queue shows up as latency.
            "query_wait_timeout = 60\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            "admin_users = postgres\n"
        )
        if self.run_as:
            _chown_tree(self.base, self.run_as)
        return ini

    def start(self) -> PgBouncer:
        if self.running:
            return self
        ini = self._write_config()
        log = self.base / "pgbouncer.log"
        self._spawn([self.binary, str(ini)], log_path=log, cwd=self.base, user=self.run_as)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServiceError(f"pgbouncer exited during startup.\n{self.describe_logs()}")
            if port_open(self.port):
                try:
                    run_sql(self.url, "select 1", timeout=5)
                    return self
                except Exception:
                    pass
            time.sleep(0.05)
        self._kill_group()
        raise ServiceError(
            f"pgbouncer did not accept connections on port {self.port} within "
            f"{self.startup_timeout}s.\n{self.describe_logs()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT: pgbouncer's "safe shutdown" waits for clients' transactions to end."""
        self._stop_gracefully(signal.SIGINT, timeout)

    def cleanup(self) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            self._kill_group()
            shutil.rmtree(self.base, ignore_errors=True)

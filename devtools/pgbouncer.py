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
from pathlib import Path

from devtools.postgres import _chown_tree, _ensure_postgres_user, answers_queries
from devtools.process import LOOPBACK, LoopbackService, ServiceError, port_open


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


class PgBouncer(LoopbackService):
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
        self.base = Path(tempfile.mkdtemp(prefix="draftroom-pgbouncer-"))
        os.chmod(self.base, 0o700)
        super().__init__(port, self.base, startup_timeout)
        self.server_port = server_port
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.binary = find_pgbouncer()
        self.run_as = _ensure_postgres_user() if os.geteuid() == 0 else None

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
        if not self.running:
            self._start_on_its_port()
        return self

    def _start_once(self) -> None:
        ini = self._write_config()
        log = self.base / "pgbouncer.log"
        self._spawn([self.binary, str(ini)], log_path=log, cwd=self.base, user=self.run_as)
        self._await_ready(
            lambda: port_open(self.port) and answers_queries(self.url),
            f"no connections accepted on port {self.port}",
            self.startup_timeout,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT: pgbouncer's "safe shutdown" waits for clients' transactions to end."""
        self._stop_gracefully(signal.SIGINT, timeout)

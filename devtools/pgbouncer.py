"""A throwaway pgbouncer (Debian's package) in transaction mode in front of a test PostgreSQL.

Production runs nodes through pgbouncer in transaction mode, where every transaction may
land on a different server connection; the tests and bench/pooling.py run the real thing
so that any session-level state a node relies on (prepared statements, session advisory
locks, SET, LISTEN) shows up as a failure here rather than in production.

Like PostgreSQL, pgbouncer refuses to run as root: as uid 0 it runs as the ``postgres``
system user, in a temp dir chowned to it.

    bouncer = PgBouncer(pg.port).start(); url = bouncer.database_url("x"); bouncer.cleanup()

``ShippedPgBouncer`` runs the shipped configuration instead (deploy/compose/pgbouncer.ini
and the userlist compose.yaml writes), SCRAM authentication included, with only its
addresses changed, in front of ``scram_postgres()``: a PostgreSQL whose application
role logs in with a SCRAM-SHA-256 password, as the postgres image does. So the tests
prove the file operators deploy, not a parallel copy of it.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import yaml

from devtools.postgres import (
    PostgresServer,
    _chown_tree,
    _ensure_postgres_user,
    answers_queries,
    run_sql,
)
from devtools.process import LOOPBACK, LoopbackService, ServiceError, port_open

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SHIPPED_INI = DEPLOY / "compose" / "pgbouncer.ini"
COMPOSE = DEPLOY / "compose.yaml"


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


def _interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:?message}`` and ``${NAME:-default}``."""

    def value(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if environ.get(name):
            return environ[name]
        if op == ":-":
            return arg
        raise ServiceError(f"{name} is not set: {arg or 'required by compose.yaml'}")

    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", value, text)


def shipped_userlist(password: str, compose: Path = COMPOSE) -> str:
    """pgbouncer's auth_file as compose.yaml writes it from POSTGRES_PASSWORD."""
    config = yaml.safe_load(compose.read_text())
    content: str = config["configs"]["pgbouncer-users"]["content"]
    return _interpolate(content, {"POSTGRES_PASSWORD": password})


def shipped_database_env(password: str, port: int, compose: Path = COMPOSE) -> dict[str, str]:
    """The nodes' DRAFTROOM_DATABASE_* settings from compose.yaml, aimed at ``port``."""
    config = yaml.safe_load(compose.read_text())
    env = config["x-draftroom"]["environment"]
    found = {
        k: _interpolate(str(v), {"POSTGRES_PASSWORD": password})
        for k, v in env.items()
        if k.startswith("DRAFTROOM_DATABASE_")
    }
    url = urllib.parse.urlsplit(found["DRAFTROOM_DATABASE_URL"])
    netloc = url.netloc.rsplit("@", 1)[0] + f"@{LOOPBACK}:{port}"
    found["DRAFTROOM_DATABASE_URL"] = urllib.parse.urlunsplit(url._replace(netloc=netloc))
    return found


def render_shipped_ini(text: str, *, server_port: int, listen_port: int, auth_file: Path) -> str:
    """The shipped pgbouncer.ini with only its addresses (and the userlist's path)
    changed: every database points at PostgreSQL on loopback ``server_port``, pgbouncer
    listens on loopback ``listen_port``. Everything else -- auth_type, pool_mode,
    ignore_startup_parameters -- is the shipped file's. A setting it no longer has is
    an error here rather than a test that quietly stops testing it."""
    overrides = {
        "listen_addr": LOOPBACK,
        "listen_port": str(listen_port),
        "auth_file": str(auth_file),
    }
    section, seen, databases, lines = "", set(), 0, []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        elif stripped and not stripped.startswith((";", "#")) and "=" in stripped:
            key = stripped.split("=", 1)[0].strip()
            if section == "[databases]":
                line = re.sub(r"\bhost=\S+", f"host={LOOPBACK}", line)
                line = re.sub(r"\bport=\S+", f"port={server_port}", line)
                databases += 1
            elif section == "[pgbouncer]" and key in overrides:
                line = f"{key} = {overrides[key]}"
                seen.add(key)
        lines.append(line)
    if databases == 0 or seen != set(overrides):
        raise ServiceError(
            f"{SHIPPED_INI} lacks {sorted(set(overrides) - seen) or '[databases] entries'}"
        )
    return "\n".join(lines) + "\n"


def scram_postgres(user: str, password: str, database: str) -> PostgresServer:
    """A started PostgreSQL where ``user`` (owner of ``database``) must log in over TCP
    with a SCRAM-SHA-256 password, like the postgres image given POSTGRES_PASSWORD.
    The ``postgres`` superuser keeps trust auth, for the harness's own checks."""
    server = PostgresServer(extra_conf={"password_encryption": "scram-sha-256"})
    hba = server.base / "pg_hba.conf"
    hba.write_text(
        "local all all trust\n"
        f"host all postgres {LOOPBACK}/32 trust\n"
        f"host all all {LOOPBACK}/32 scram-sha-256\n"
    )
    server.extra_conf["hba_file"] = str(hba)
    try:
        server.start()
        run_sql(
            server.url,
            "CREATE ROLE \"{}\" LOGIN PASSWORD '{}'".format(user, password.replace("'", "''")),
            f'CREATE DATABASE "{database}" OWNER "{user}"',
        )
    except BaseException:
        server.cleanup()
        raise
    return server


class ShippedPgBouncer(PgBouncer):
    """pgbouncer with the shipped deploy/compose/pgbouncer.ini (SCRAM auth, transaction
    mode) and compose.yaml's userlist for ``password``, in front of the PostgreSQL on
    ``server_port`` (``scram_postgres``). Clients log in as compose's nodes do."""

    def __init__(self, server_port: int, password: str, *, ini: Path = SHIPPED_INI) -> None:
        super().__init__(server_port)
        self.password = password
        self.ini = ini
        # Who the nodes log in as, and where: compose's database URL says.
        url = urllib.parse.urlsplit(shipped_database_env(password, 0)["DRAFTROOM_DATABASE_URL"])
        self.user = url.username or ""
        self.database = url.path.lstrip("/")
        parsed = configparser.ConfigParser(interpolation=None)
        parsed.read_string(ini.read_text())
        self.pool_size = int(parsed["pgbouncer"].get("default_pool_size", "20"))

    def database_url(self, name: str) -> str:
        secret = urllib.parse.quote(self.password, safe="")
        return f"postgresql://{self.user}:{secret}@{LOOPBACK}:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.database_url(self.database)

    def node_env(self) -> dict[str, str]:
        """The DRAFTROOM_DATABASE_* environment compose.yaml gives nodes, aimed here."""
        return shipped_database_env(self.password, self.port)

    def _write_config(self) -> Path:
        users = self.base / "userlist.txt"
        users.write_text(shipped_userlist(self.password))
        ini = self.base / "pgbouncer.ini"
        ini.write_text(
            render_shipped_ini(
                self.ini.read_text(),
                server_port=self.server_port,
                listen_port=self.port,
                auth_file=users,
            )
        )
        if self.run_as:
            _chown_tree(self.base, self.run_as)
        return ini

"""Nodes through a real pgbouncer in transaction mode (Debian's pgbouncer 1.18).

In transaction mode consecutive transactions of one client connection run on whichever
server connection is free, so anything session-scoped breaks: asyncpg's named prepared
statements (DuplicatePreparedStatementError / "prepared statement does not exist"),
session advisory locks, SET, LISTEN. These tests run stores and whole nodes through it.
The last ones run the shipped deploy/compose/pgbouncer.ini, SCRAM authentication
included, in front of a PostgreSQL that wants a SCRAM password, with the nodes'
database settings from deploy/compose.yaml.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.pgbouncer import (
    SHIPPED_INI,
    PgBouncer,
    ShippedPgBouncer,
    render_shipped_ini,
    scram_postgres,
    shipped_database_env,
)
from devtools.postgres import PostgresServer, run_sql
from devtools.process import ServiceError
from devtools.waiting import eventually
from draftroom.agents.cache.db_store import DatabaseStore
from draftroom.agents.cache.keys import EntryKey
from draftroom.client import DraftroomClient
from draftroom.config import settings_from
from draftroom.store import store_for
from draftroom.store.postgres import PostgresStore, split_pooler
from store.test_contract import text_of, typing_updates


async def _together(stores: list[PostgresStore], rounds: int = 20) -> None:
    """Several nodes' pools interleaving reads, appends and SQL through one bouncer."""

    async def work(store: PostgresStore, i: int) -> None:
        for _ in range(rounds):
            await store.versions(["shared"])
            await store.sql.fetch("SELECT $1::int AS n", i)
            await store.append("shared", typing_updates(1, str(i))[0])

    await asyncio.gather(*(work(s, i) for i, s in enumerate(stores)))


async def test_nodes_share_pgbouncer_only_with_the_pooler_setting(pgbouncer_url: str) -> None:
    stores = [PostgresStore(pgbouncer_url, pooler="pgbouncer") for _ in range(3)]
    try:
        for s in stores:
            await s.open()  # migrations race through the bouncer too
        await _together(stores)
        state = await stores[0].load("shared")
        assert state.seq == 60
        assert sorted(text_of(state.snapshot, state.updates)) == sorted("012" * 20)
        result = await stores[1].compact("shared")
        assert result is not None and result.snapshot_seq == 60
        # The agent reply cache's database tier (Redis down) is shared the same way.
        key = EntryKey("summary", "shared", "d" * 64)
        await DatabaseStore(stores[0].sql).set(key, b"reply", 60)
        assert await DatabaseStore(stores[2].sql).get(key) == b"reply"
        assert await DatabaseStore(stores[1].sql).invalidate("summary", None) == 1
    finally:
        for s in stores:
            await s.close()

    # The same without it fails: asyncpg's statement cache is session state.
    stores = [PostgresStore(pgbouncer_url) for _ in range(3)]
    try:
        with pytest.raises(Exception, match="prepared statement"):
            for s in stores:
                await s.open()
            await _together(stores)
    finally:
        for s in stores:
            await s.close()


def test_pooler_in_the_url_is_taken_out_and_honoured() -> None:
    url = "postgresql://u@db:6432/app?pgbouncer=true&sslmode=disable"
    assert split_pooler(url) == ("postgresql://u@db:6432/app?sslmode=disable", "pgbouncer")
    assert split_pooler("postgresql://db/app") == ("postgresql://db/app", None)
    assert split_pooler("postgresql://db/app?pgbouncer=0")[1] == "none"
    # The URL wins over the setting's default.
    store = store_for(settings_from({"database_url": url}, environ={}))
    assert isinstance(store, PostgresStore) and store.pooler == "pgbouncer"
    assert store._dsn == "postgresql://u@db:6432/app?sslmode=disable"


def test_pool_settings_reach_the_store_and_are_checked() -> None:
    environ = {
        "DRAFTROOM_DATABASE_URL": "postgresql://db/app",
        "DRAFTROOM_DATABASE_POOLER": "pgbouncer",
        "DRAFTROOM_DATABASE_POOL_MIN": "1",
        "DRAFTROOM_DATABASE_POOL_MAX": "4",
    }
    store = store_for(settings_from({}, environ=environ))
    assert isinstance(store, PostgresStore)
    assert (store.pooler, store._pool_size) == ("pgbouncer", (1, 4))
    with pytest.raises(ValueError, match="database-pool-min"):
        settings_from({"database_pool_min": 5, "database_pool_max": 2}, environ={})
    with pytest.raises(ValueError, match="not one of"):
        settings_from({}, environ={"DRAFTROOM_DATABASE_POOLER": "pgpool"})


def _server_connections(pgbouncer: PgBouncer, postgres_url: str) -> int:
    name = postgres_url.rsplit("/", 1)[-1]
    rows = run_sql(
        postgres_url,
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"
        " AND pid <> pg_backend_pid()",
    )
    return int(rows[0][0][0])


async def test_nodes_through_pgbouncer_save_compact_and_log_in(
    pgbouncer: PgBouncer,
    pgbouncer_url: str,
    postgres_url: str,
    redis_url: str,
    draftroom_process: Any,
) -> None:
    # The account is made by the CLI through the bouncer too, named by the URL alone.
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "draftroom", "user", "create", "ann", "--password-stdin",
         "--database-url", pgbouncer_url + "?pgbouncer=true", "--new-store"],
        input="pw-ann-123456\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    args = ("--database-url", pgbouncer_url, "--database-pooler", "pgbouncer",
            "--database-pool-min", "2", "--database-pool-max", "6",
            "--redis-url", redis_url, "--compact-after", "20")  # fmt: skip
    one = draftroom_process(*args, anonymous=False)
    two = draftroom_process(*args, anonymous=False)
    async with httpx.AsyncClient(base_url=one.http_url, timeout=30) as http:
        r = await http.post("/api/sessions", json={"username": "ann", "password": "pw-ann-123456"})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        me = await httpx.AsyncClient(base_url=two.http_url).get(
            "/api/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.status_code == 200  # the session, stored through the bouncer, is seen by two
    query = f"?token={token}"
    async with (
        DraftroomClient(one.ws_url("novel") + query) as alice,
        DraftroomClient(two.ws_url("novel") + query) as bob,
    ):
        for i in range(30):
            client = alice if i % 2 else bob
            version = await client.wait_saved(client.insert("ab"))
        assert version >= 30
        await eventually(lambda: str(alice.text) == str(bob.text) == "ab" * 30)
    # Compaction ran (after 20 log entries) and its snapshot is what a fresh reader loads.
    rows = run_sql(postgres_url, "SELECT seq FROM snapshots WHERE doc_id = 'novel'")
    assert rows[0] and rows[0][0][0] >= 20
    async with DraftroomClient(two.ws_url("novel") + query) as carol:
        assert str(carol.text) == "ab" * 30
    # Two nodes with pools of up to 6 each, yet PostgreSQL saw at most pgbouncer's pool.
    assert _server_connections(pgbouncer, postgres_url) <= pgbouncer.pool_size


SCRAM_PASSWORD = "pg-Scram-pw-4815162342"


@pytest.fixture(scope="module")
def shipped() -> Iterator[tuple[PostgresServer, ShippedPgBouncer]]:
    """The shipped pgbouncer.ini in front of a PostgreSQL wanting SCRAM passwords, with
    compose.yaml's role and database."""
    url = urllib.parse.urlsplit(shipped_database_env(SCRAM_PASSWORD, 0)["DRAFTROOM_DATABASE_URL"])
    assert url.username and url.path
    server = scram_postgres(url.username, SCRAM_PASSWORD, url.path.lstrip("/"))
    bouncer = ShippedPgBouncer(server.port, SCRAM_PASSWORD)
    try:
        bouncer.start()
        yield server, bouncer
    finally:
        bouncer.cleanup()
        server.cleanup()


def test_the_shipped_ini_is_rendered_with_only_its_addresses_changed(tmp_path: Path) -> None:
    shipped = SHIPPED_INI.read_text()
    rendered = render_shipped_ini(
        shipped, server_port=5999, listen_port=6999, auth_file=tmp_path / "users"
    )
    changed = set(rendered.splitlines()) - set(shipped.splitlines())
    assert changed == {
        "draftroom = host=127.0.0.1 port=5999 dbname=draftroom",
        "listen_addr = 127.0.0.1",
        "listen_port = 6999",
        f"auth_file = {tmp_path / 'users'}",
    }
    assert "auth_type = scram-sha-256" in rendered.splitlines()
    with pytest.raises(ServiceError, match="auth_file"):
        render_shipped_ini(
            shipped.replace("auth_file", "; auth_file"),
            server_port=1,
            listen_port=2,
            auth_file=tmp_path,
        )


async def test_nodes_log_in_through_the_shipped_scram_pgbouncer(
    shipped: tuple[PostgresServer, ShippedPgBouncer], redis_url: str, draftroom_process: Any
) -> None:
    server, bouncer = shipped
    role = bouncer.user
    # PostgreSQL holds a SCRAM secret and will not let the role in without it.
    rows = run_sql(server.url, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert rows[0][0][0].startswith("SCRAM-SHA-256$")
    direct = f"postgresql://{role}@127.0.0.1:{server.port}/{bouncer.database}"
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(direct, password="not-it", timeout=10)

    env = bouncer.node_env()
    assert env["DRAFTROOM_DATABASE_POOLER"] == "pgbouncer"
    node = draftroom_process("--redis-url", redis_url, env=env)
    async with DraftroomClient(node.ws_url("scram")) as alice:
        for _ in range(5):
            await alice.wait_saved(alice.insert("ab"))
    async with DraftroomClient(node.ws_url("scram")) as bob:
        assert str(bob.text) == "ab" * 5
    seen = run_sql(
        server.url,
        f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"
        f" AND datname = '{bouncer.database}'",
    )
    assert seen[0][0][0] >= 1  # pgbouncer's server connections, logged in with SCRAM


async def test_a_wrong_database_password_stops_the_node_at_once_with_a_clear_error(
    shipped: tuple[PostgresServer, ShippedPgBouncer], draftroom_process: Any
) -> None:
    _, bouncer = shipped
    env = bouncer.node_env()
    wrong = urllib.parse.quote("wrong-" + SCRAM_PASSWORD)
    env["DRAFTROOM_DATABASE_URL"] = env["DRAFTROOM_DATABASE_URL"].replace(
        urllib.parse.quote(SCRAM_PASSWORD, safe=""), wrong
    )
    assert wrong in env["DRAFTROOM_DATABASE_URL"]
    node = draftroom_process(env=env, start=False)
    started = time.monotonic()
    with pytest.raises(ServiceError) as refused:
        await asyncio.to_thread(node.start)
    assert time.monotonic() - started < 15, "the node hung instead of failing"
    message = str(refused.value)
    assert "exited with" in message, message
    # Which login failed and what to check, from pgbouncer's bare "SASL authentication failed".
    where = f"{bouncer.user}@127.0.0.1:{bouncer.port}/{bouncer.database}"
    assert f"cannot connect to PostgreSQL {where}: " in message, message
    assert "authentication failed (check the user name and password" in message, message
    assert wrong not in message  # the password itself is not logged

    # The account command says the same in one line, not a traceback.
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "draftroom", "user", "create", "ann", "--password-stdin",
         "--database-url", env["DRAFTROOM_DATABASE_URL"]],
        input="pw-ann-123456\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 1
    assert created.stderr.startswith(f"draftroom: cannot connect to PostgreSQL {where}: ")
    assert "Traceback" not in created.stderr and wrong not in created.stderr, created.stderr

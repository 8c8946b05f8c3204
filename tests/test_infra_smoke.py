"""Smoke tests of the test infrastructure itself: the devtools service processes, the
conftest fixtures, the JS harness. (The Draftroom server is replaced by a stand-in here;
its own tests use the real one.)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from devtools.draftroom import DraftroomProcess
from devtools.jsclient import RELAY, JSHarness, JSHarnessError, find_node
from devtools.postgres import ExternalPostgres, PostgresServer
from devtools.process import ServiceError, port_open
from devtools.redis import ExternalRedis, RedisServer, redis_command

# -- PostgreSQL -------------------------------------------------------------------------------


async def test_postgres_select_1_and_create_database(
    postgres_server: PostgresServer | ExternalPostgres, postgres_url: str
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("select 1") == 1
        dbname = await conn.fetchval("select current_database()")
        assert dbname.startswith("test_") and postgres_url.endswith("/" + dbname)
        assert await conn.fetchval("show fsync") == "on"
    finally:
        await conn.close()

    other = postgres_server.create_database("smoke_extra_db")
    conn = await asyncpg.connect(other)
    try:
        assert await conn.fetchval("select current_database()") == "smoke_extra_db"
    finally:
        await conn.close()
    conn = await asyncpg.connect(postgres_server.url)
    try:
        await conn.execute('DROP DATABASE "smoke_extra_db"')
    finally:
        await conn.close()


async def test_postgres_kill_and_recover(
    postgres_server: PostgresServer | ExternalPostgres, postgres_url: str
) -> None:
    if isinstance(postgres_server, ExternalPostgres):
        pytest.skip("DRAFTROOM_TEST_POSTGRES_URL given: not our server to kill")
    conn = await asyncpg.connect(postgres_url)
    await conn.execute("create table t (x int); insert into t values (42)")
    await conn.close()
    port = postgres_server.port
    if os.geteuid() == 0:
        assert postgres_server.run_as == "postgres"
    postgres_server.kill()
    assert not postgres_server.running and not port_open(port)
    postgres_server.start()  # crash recovery, same port and data dir
    assert postgres_server.port == port
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("select x from t") == 42  # committed + fsync=on
    finally:
        await conn.close()


# -- Redis ------------------------------------------------------------------------------------


def test_redis_ping_stop_restart_same_port(redis_server: RedisServer | ExternalRedis) -> None:
    if isinstance(redis_server, ExternalRedis):
        pytest.skip("DRAFTROOM_TEST_REDIS_URL given: not our server to restart")
    assert redis_server.command("PING") == "PONG"
    port = redis_server.port
    redis_server.stop()
    assert not redis_server.running and not port_open(port)
    redis_server.restart()
    assert redis_server.port == port and redis_server.command("PING") == "PONG"
    redis_server.kill()
    assert not redis_server.running
    redis_server.restart()
    assert redis_command(redis_server.url, "PING") == "PONG"


def test_redis_url_is_flushed_and_works(redis_url: str) -> None:
    assert redis_command(redis_url, "DBSIZE") == 0
    assert redis_command(redis_url, "SET", "k", "v") == "OK"
    assert redis_command(redis_url, "GET", "k") == b"v"


def test_redis_extra_args() -> None:
    r = RedisServer(extra_args=["--maxmemory", "5mb", "--maxmemory-policy", "noeviction"])
    try:
        r.start()
        assert r.command("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"5242880"]
    finally:
        r.cleanup()
    assert not r.running


# -- DraftroomProcess, against a stand-in started exactly like `python -m draftroom serve` ----

STANDIN = """
import argparse, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
s = sub.add_parser("serve")
s.add_argument("--host"); s.add_argument("--port", type=int); s.add_argument("--data-dir")
s.add_argument("--fail", action="store_true")
a = p.parse_args()
if a.fail:
    print("standin: refusing to start (--fail)", file=sys.stderr)
    sys.exit(3)
counter = os.path.join(a.data_dir, "starts")
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(n))

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (f"ok {n} {os.environ.get('STANDIN_FLAVOUR', '-')}" if self.path == "/healthz"
                else "nope").encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

srv = HTTPServer((a.host, a.port), H)
def term(*_):
    print("standin: SIGTERM, bye", flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
print(f"standin listening on {a.port}", flush=True)
srv.serve_forever()
"""


@pytest.fixture
def standin_env(tmp_path: Path) -> dict[str, str]:
    pkg = tmp_path / "pkgs" / "standin_draftroom"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(textwrap.dedent(STANDIN))
    return {"PYTHONPATH": str(tmp_path / "pkgs"), "STANDIN_FLAVOUR": "vanilla"}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def test_draftroom_process_lifecycle(
    draftroom_process: Callable[..., DraftroomProcess], standin_env: dict[str, str]
) -> None:
    proc = draftroom_process(module="standin_draftroom", env=standin_env, anonymous=False)
    assert proc.argv[:4] == [sys.executable, "-m", "standin_draftroom", "serve"]
    assert proc.argv[4:] == [
        "--host", "127.0.0.1", "--port", str(proc.port), "--data-dir", str(proc.data_dir),
    ]  # fmt: skip
    assert proc.ws_url("doc-1") == f"ws://127.0.0.1:{proc.port}/ws/doc-1"
    assert proc.ws_base == f"ws://127.0.0.1:{proc.port}/ws"
    assert _get(proc.http_url + "/healthz") == "ok 1 vanilla"
    port, data_dir = proc.port, proc.data_dir

    proc.kill9()
    assert not proc.running and proc.proc is not None and proc.proc.returncode == -9
    assert not port_open(port)
    proc.restart()
    assert (proc.port, proc.data_dir) == (port, data_dir)
    assert _get(proc.http_url + "/healthz") == "ok 2 vanilla"

    proc.restart()  # running: SIGTERM first, then start again
    assert _get(proc.http_url + "/healthz") == "ok 3 vanilla"
    assert proc.terminate() == 0
    assert "standin: SIGTERM, bye" in proc.stdout_path.read_text()


def test_draftroom_process_startup_failure_shows_stderr(
    draftroom_process: Callable[..., DraftroomProcess], standin_env: dict[str, str]
) -> None:
    with pytest.raises(ServiceError, match=r"(?s)exited with 3.*refusing to start"):
        draftroom_process("--fail", module="standin_draftroom", env=standin_env, anonymous=False)


# -- JS harness against a minimal in-memory y-websocket relay ---------------------------------


@pytest.fixture
async def relay() -> AsyncIterator[str]:
    """ws base URL of tests/js/relay.mjs (the harness's y-websocket peer for these tests)."""
    proc = await asyncio.create_subprocess_exec(
        find_node(), str(RELAY), "0",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        port = json.loads(line)["port"]
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_js_two_clients_converge_and_share_awareness(js: JSHarness, relay: str) -> None:
    a = await js.open("a", relay, "room-1", draftroom=True, awareness={"user": "alice"})
    await js.open("b", relay, "room-1", {"draftroom": "1"})
    assert isinstance(a["client_id"], int)
    await js.wait_synced("a")
    await js.wait_synced("b")

    await js.insert("a", 0, "hello")
    await js.wait_text("b", "hello")
    await js.type("b", " world", interval_ms=2)
    await js.wait_text("a", "hello world")
    await js.delete("a", 0, 1)
    await js.wait_text("b", "ello world")
    assert await js.text("a") == await js.text("b") == "ello world"
    sa, sb = await js.state("a"), await js.state("b")
    assert sa["state_vector"] == sb["state_vector"]

    await js.set_awareness("b", {"user": "bob", "cursor": 3})
    await js.wait_awareness("a", 2)
    await js.wait_awareness("b", 2)
    id_a, id_b = await js.client_id("a"), await js.client_id("b")
    assert id_a == a["client_id"] and id_a != id_b
    seen_by_a = await js.awareness("a")
    seen_by_b = await js.awareness("b")
    assert seen_by_a[id_b] == {"user": "bob", "cursor": 3}
    assert seen_by_b[id_a] == {"user": "alice"}

    # type-100 app messages (msgpack) are decoded and recorded
    assert await js.wait_acks("a", 1) == [{"type": "saved", "version": 0, "upto": 0}]
    assert await js.acks("b") == [{"type": "saved", "version": 0, "upto": 0}]

    st = await js.status("a")
    assert st["connected"] and st["synced"] and st["closes"] == 0

    await js.close("b")
    for _ in range(200):  # relay drops b's awareness when its socket closes
        if id_b not in await js.awareness("a"):
            break
        await asyncio.sleep(0.02)
    assert id_b not in await js.awareness("a")


async def test_js_errors_do_not_kill_harness_and_closes_are_recorded(
    js: JSHarness, relay: str
) -> None:
    with pytest.raises(JSHarnessError, match="unknown client"):
        await js.text("nobody")
    with pytest.raises(JSHarnessError, match="unknown command"):
        await js.call("frobnicate")
    with pytest.raises(JSHarnessError, match="timeout"):
        await js.open("c", "ws://127.0.0.1:9/ws", "r", max_backoff_ms=100)
        await js.wait_synced("c", timeout=0.3)
    assert (await js.ping())["pong"] is True
    st = await js.status("c")
    assert not st["connected"] and st["closes"] >= 1
    assert all(c["code"] is not None for c in st["close_events"])
    await js.close("c")
    await js.open("c", relay, "room-2")  # the name is free again
    await js.wait_synced("c")

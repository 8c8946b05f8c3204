"""Sessions: Redis hot copy, database failover, expiry, revocation, cross-node kicks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.helpers import add_user, auth_server, bearer, login, password_of, ws_close
from draftroom.auth.sessions import KEY
from draftroom.auth.tokens_util import secret_hash
from draftroom.client import DraftroomClient


def _key(token: str) -> str:
    return KEY + secret_hash(token)


async def _me(http: httpx.AsyncClient, token: str) -> int:
    return (await http.get("/api/me", headers=bearer(token))).status_code


async def test_sessions_live_in_redis_and_survive_flushall(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_server: Any
) -> None:
    async with auth_server(tmp_path, postgres_url, redis_url=redis_url) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
            assert redis_server.command("EXISTS", _key(token)) == 1
            ttl = redis_server.command("TTL", _key(token))
            assert 0 < ttl <= 14 * 24 * 3600
            # Only the hash is stored anywhere.
            assert redis_server.command("EXISTS", KEY + token) == 0
            rows = await server.hub.store.sql.fetch("SELECT token_hash FROM sessions")
            assert [r["token_hash"] for r in rows] == [secret_hash(token)]
            redis_server.command("FLUSHALL")
            assert await _me(http, token) == 200  # from the database
            assert redis_server.command("EXISTS", _key(token)) == 1  # and re-cached
            assert await _me(http, "drs_" + "x" * 43) == 401


async def test_redis_stopped_then_back(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_server: Any
) -> None:
    async with auth_server(tmp_path, postgres_url, redis_url=redis_url) as server:
        await add_user(server.hub, "ann")
        await add_user(server.hub, "bob")
        async with httpx.AsyncClient(base_url=server.http) as http:
            ann = (await login(http, "ann"))["token"]
            bob = (await login(http, "bob"))["token"]
            cached = redis_server.command("GET", _key(bob))
            redis_server.stop()
            try:
                assert await _me(http, ann) == 200  # nobody logged out
                fresh = (await login(http, "ann"))["token"]  # logging in still works
                assert await _me(http, fresh) == 200
                r = await http.delete("/api/sessions", headers=bearer(bob))  # revoke while down
                assert r.status_code == 204
                assert await _me(http, bob) == 401  # nobody let in wrongly
                assert await _me(http, "drs_nonsense") == 401
            finally:
                redis_server.start()
            # Redis comes back holding the revoked session (as a persisted Redis would):
            # it must still be refused.
            redis_server.command("SET", _key(bob), cached)
            await asyncio.sleep(1.1)  # past the circuit breaker
            assert await _me(http, bob) == 401
            assert redis_server.command("EXISTS", _key(bob)) == 0
            assert await _me(http, ann) == 200 and await _me(http, fresh) == 200


async def test_expired_and_sliding(tmp_path: Path, postgres_url: str, redis_url: str) -> None:
    settings = {"redis_url": redis_url, "session_ttl_seconds": 2.0}
    async with auth_server(tmp_path, postgres_url, **settings) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            idle = (await login(http, "ann"))["token"]
            busy = (await login(http, "ann"))["token"]
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:  # used every 0.5 s: slides past the TTL
                assert await _me(http, busy) == 200
                await asyncio.sleep(0.5)
            assert await _me(http, idle) == 401  # unused for > TTL: expired
            code, reason, _ = await ws_close(server.ws("d") + f"?token={idle}")
            assert code == 4401 and "expired" in reason


async def test_logout_revokes_and_kicks_the_live_socket(tmp_path: Path, redis_url: str) -> None:
    async with auth_server(tmp_path, redis_url=redis_url) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
            client = DraftroomClient(server.ws("ann-doc") + f"?token={token}")
            await client.connect()
            try:
                assert (
                    await http.delete("/api/sessions", headers=bearer(token))
                ).status_code == 204
                assert await client.wait_closed(5) == 4401
                assert client.close_reason == "logged out"
            finally:
                await client.close()
            code, _, _ = await ws_close(server.ws("ann-doc") + f"?token={token}")
            assert code == 4401
            assert await _me(http, token) == 401


def _cli(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "draftroom", "user", *args],
        input=password_of(args[1]) + "\n" if args[0] == "create" else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


async def test_revocation_kicks_sockets_on_another_node(
    draftroom_process: Any, postgres_url: str, redis_url: str
) -> None:
    _cli("create", "root", "--admin", "--password-stdin", "--database-url", postgres_url)
    _cli("create", "bob", "--password-stdin", "--database-url", postgres_url)
    assert "bob\tuser" in _cli("list", "--database-url", postgres_url)
    args = ("--database-url", postgres_url, "--redis-url", redis_url)
    a = draftroom_process(*args, anonymous=False)
    b = draftroom_process(*args, anonymous=False)
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        root = bearer((await login(http, "root"))["token"])
        bob = (await login(http, "bob"))["token"]
        assert (
            await http.post("/api/documents", json={"id": "x"}, headers=root)
        ).status_code == 201
        r = await http.put("/api/documents/x/members/bob", json={"role": "editor"}, headers=root)
        assert r.status_code == 200
        # Bob edits on node B; his role is revoked through node A.
        client = DraftroomClient(b.ws_url("x") + f"?token={bob}")
        await client.connect()
        client.insert("bob was here")
        await client.wait_saved(client.sent_updates)
        started = time.monotonic()
        assert (await http.delete("/api/documents/x/members/bob", headers=root)).status_code == 204
        assert await client.wait_closed(5) == 4403
        assert time.monotonic() - started < 5
        await client.close()
        code, _, _ = await ws_close(b.ws_url("x") + f"?token={bob}")
        assert code == 4403
        # A logout through node A ends bob's session on node B too.
        await http.put("/api/documents/x/members/bob", json={"role": "viewer"}, headers=root)
        client = DraftroomClient(b.ws_url("x") + f"?token={bob}")
        await client.connect()
        assert (await http.delete("/api/sessions", headers=bearer(bob))).status_code == 204
        assert await client.wait_closed(5) == 4401
        await client.close()
        code, _, _ = await ws_close(b.ws_url("x") + f"?token={bob}")
        assert code == 4401
    _cli("delete", "bob", "--database-url", postgres_url)
    assert "bob" not in _cli("list", "--database-url", postgres_url)


@pytest.mark.parametrize("what", ["delete_user", "revoke_token"])
async def test_user_delete_and_token_revoke_kick(tmp_path: Path, what: str) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "bob")
        async with httpx.AsyncClient(base_url=server.http) as http:
            root = bearer((await login(http, "root"))["token"])
            bob = bearer((await login(http, "bob"))["token"])
            r = await http.post("/api/tokens", json={"name": "ci", "scopes": ["read", "write"]},
                                headers=bob)  # fmt: skip
            assert r.status_code == 201
            token, token_id = r.json()["token"], r.json()["id"]
            # Root owns the document: an account that is a document's only owner
            # cannot be deleted.
            assert (
                await http.post("/api/documents", json={"id": "bobs"}, headers=root)
            ).status_code == 201
            r = await http.put("/api/documents/bobs/members/bob", json={"role": "editor"},
                               headers=root)  # fmt: skip
            assert r.status_code == 200
            client = DraftroomClient(server.ws("bobs") + f"?token={token}")
            await client.connect()
            if what == "delete_user":
                assert (await http.delete("/api/users/bob", headers=root)).status_code == 204
                reason = "account deleted"
            else:
                assert (
                    await http.delete(f"/api/tokens/{token_id}", headers=bob)
                ).status_code == 204
                reason = "API token revoked"
            assert await client.wait_closed(5) == 4401
            assert client.close_reason == reason
            await client.close()
            assert (await http.get("/api/me", headers=bearer(token))).status_code == 401

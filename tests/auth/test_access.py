"""WebSocket and HTTP authentication paths, cross-site defences, scopes and abuse limits."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from auth.helpers import add_user, auth_server, bearer, login, ws_close
from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import (
    MessageType,
    SyncType,
    encode_sync,
    write_varbytes,
    write_varuint,
)
from draftroom.node import Node
from draftroom.server.app import create_app
from draftroom.server.ws_auth import AUTH_TOKEN


def auth_frame(secret: bytes) -> bytes:
    return bytes([MessageType.AUTH]) + write_varuint(AUTH_TOKEN) + write_varbytes(secret)


async def test_websocket_credentials(tmp_path: Path) -> None:
    async with auth_server(tmp_path, auth_timeout_seconds=0.5) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            session = await login(http, "ann")
        token = session["token"]
        url = server.ws("doc")
        # Nothing at all: the server waits for an auth message, then gives up.
        code, reason, frames = await ws_close(url)
        assert (code, reason) == (4401, "authentication required")
        assert frames[0][:2] == b"\x02\x00"  # y-protocols "permission denied"
        # A wrong token, in the URL.
        code, reason, _ = await ws_close(url + "?token=drs_wrong")
        assert (code, reason) == (4401, "invalid or expired credentials")
        # The protocol's auth message as the first frame.
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(auth_frame(token.encode()))
            await ws.send(encode_sync(SyncType.STEP1, b"\x00"))
            first = await asyncio.wait_for(ws.recv(), 5)
            assert first[0] == MessageType.SYNC
        # A first frame that is not auth: refused, not treated as sync.
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(encode_sync(SyncType.STEP1, b"\x00"))
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 4401
        # The session cookie (browsers) and a Bearer header (programs).
        for headers in ({"Cookie": f"draftroom_session={token}"}, bearer(token)):
            ws = await websockets.connect(url, additional_headers=headers)
            await ws.send(encode_sync(SyncType.STEP1, b"\x00"))
            assert (await asyncio.wait_for(ws.recv(), 5))[0] == MessageType.SYNC
            await ws.close()


async def test_origin_allow_list(tmp_path: Path) -> None:
    origins = "https://app.example, https://other.example/"
    async with auth_server(tmp_path, allowed_origins=origins) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
        url = server.ws("doc") + f"?token={token}"
        code, reason, _ = await ws_close(url, origin="https://evil.example")
        assert (code, reason) == (4403, "origin not allowed")
        for origin in (
            "https://app.example",
            "https://OTHER.example",
            f"http://127.0.0.1:{server.port}",
        ):
            async with websockets.connect(url, origin=origin) as ws:  # type: ignore[arg-type]
                await ws.send(encode_sync(SyncType.STEP1, b"\x00"))
                assert (await asyncio.wait_for(ws.recv(), 5))[0] == MessageType.SYNC


async def test_csrf_for_cookie_writes(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            session = await login(http, "ann")  # sets the cookies on this client
            assert http.cookies.get("draftroom_csrf") == session["csrf_token"]
            r = await http.get("/api/me")  # reads need no token
            assert r.status_code == 200 and r.json()["via"] == "session"
            r = await http.post("/api/documents", json={"id": "a"})
            assert r.status_code == 403 and r.json()["error"] == "csrf"
            r = await http.post("/api/documents", json={"id": "a"}, headers={"X-CSRF-Token": "no"})
            assert r.status_code == 403
            r = await http.post(
                "/api/documents", json={"id": "a"}, headers={"X-CSRF-Token": session["csrf_token"]}
            )
            assert r.status_code == 201
            r = await http.post(
                "/api/documents",
                json={"id": "b"},
                headers={"X-CSRF-Token": session["csrf_token"], "Origin": "https://evil.example"},
            )
            assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
            # Bearer requests are not ambient credentials: no CSRF token needed.
            http.cookies.clear()
            r = await http.post(
                "/api/documents", json={"id": "c"}, headers=bearer(session["token"])
            )
            assert r.status_code == 201


async def test_token_scopes(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            me = bearer((await login(http, "ann"))["token"])
            await http.post("/api/documents", json={"id": "doc"}, headers=me)
            made = {}
            for scope in ("read", "write", "admin"):
                r = await http.post(
                    "/api/tokens", json={"name": scope, "scopes": [scope]}, headers=me
                )
                assert r.status_code == 201
                made[scope] = bearer(r.json()["token"])
            r = await http.post("/api/tokens", json={"name": "x", "scopes": ["root"]}, headers=me)
            assert r.status_code == 422
            listed = (await http.get("/api/tokens", headers=me)).json()["tokens"]
            assert {t["name"] for t in listed} == {"read", "write", "admin"}
            assert all("token" not in t for t in listed)  # shown once, at creation
            # read: read only; write: edits; admin: share/delete.
            assert (await http.get("/api/documents/doc", headers=made["read"])).status_code == 200
            assert (
                await http.patch("/api/documents/doc", json={"title": "t"}, headers=made["read"])
            ).status_code == 403
            assert (
                await http.patch("/api/documents/doc", json={"title": "t"}, headers=made["write"])
            ).status_code == 200
            assert (
                await http.delete("/api/documents/doc", headers=made["write"])
            ).status_code == 403
            assert (
                await http.post(
                    "/api/tokens", json={"name": "y", "scopes": ["write"]}, headers=made["read"]
                )
            ).status_code == 403
            assert (
                await http.get("/api/users", headers=made["admin"])
            ).status_code == 403  # not a site admin
        # On the WebSocket, a read token is a read-only peer.
        read_token = made["read"]["Authorization"].split()[1]
        async with DraftroomClient(server.ws("doc") + f"?token={read_token}") as client:
            client.insert("nope")
            for _ in range(100):
                if any(m.get("code") == "read_only" for m in client.app_log):
                    break
                await asyncio.sleep(0.02)
            assert any(m.get("code") == "read_only" for m in client.app_log)


async def test_user_admin_api(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            root = bearer((await login(http, "root"))["token"])
            ann = bearer((await login(http, "ann"))["token"])
            assert (await http.get("/api/users", headers=ann)).status_code == 403
            r = await http.post(
                "/api/users", json={"username": "cat", "password": "short"}, headers=root
            )
            assert r.status_code == 422 and r.json()["error"] == "weak_password"
            r = await http.post(
                "/api/users", json={"username": "cat", "password": "long-enough-pw"}, headers=root
            )
            assert r.status_code == 201 and r.json()["admin"] is False
            r = await http.post(
                "/api/users", json={"username": "cat", "password": "long-enough-pw"}, headers=root
            )
            assert r.status_code == 409
            names = [
                u["username"] for u in (await http.get("/api/users", headers=root)).json()["users"]
            ]
            assert names == ["ann", "cat", "root"]
            r = await http.post(
                "/api/sessions", json={"username": "cat", "password": "wrong-password"}
            )
            assert r.status_code == 401 and r.json()["error"] == "bad_credentials"
            r = await http.post(
                "/api/sessions", json={"username": "nobody", "password": "wrong-password"}
            )
            assert r.status_code == 401
            assert (await http.delete("/api/users/cat", headers=root)).status_code == 204
            assert (await http.delete("/api/users/cat", headers=root)).status_code == 404
            row = await server.hub.store.sql.fetchrow(
                "SELECT password_hash FROM users WHERE username = 'ann'"
            )
            assert row is not None and row["password_hash"].startswith("$argon2id$")


async def test_rate_limits(tmp_path: Path, redis_url: str) -> None:
    limits = {"login_rate_per_minute": 3, "api_rate_per_minute": 8, "redis_url": redis_url}
    async with auth_server(tmp_path, **limits) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
            bad = {"username": "ann", "password": "wrong-password"}
            codes = [(await http.post("/api/sessions", json=bad)).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]  # failures count; the good login did not
            r = await http.post("/api/sessions", json=bad)
            assert 1 <= int(r.headers["Retry-After"]) <= 60 and r.json()["error"] == "rate_limited"
            http.cookies.clear()
            codes = [
                (await http.get("/api/me", headers=bearer(token))).status_code for _ in range(8)
            ]
            assert 429 in codes and codes[0] == 200


async def test_connection_cap(tmp_path: Path) -> None:
    async with auth_server(tmp_path, max_connections_per_user=2) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
        url = server.ws("doc") + f"?token={token}"
        async with DraftroomClient(url), DraftroomClient(url):
            code, reason, _ = await ws_close(url)
            assert code == 4429 and "connections" in reason
        async with DraftroomClient(url) as again:  # a slot frees up when one leaves
            assert again.close_code is None


async def test_connection_cap_counts_every_node(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    limits = {"max_connections_per_user": 2, "redis_url": redis_url}
    async with (
        auth_server(tmp_path / "a", postgres_url, **limits) as one,
        auth_server(tmp_path / "b", postgres_url, **limits) as two,
    ):
        await add_user(one.hub, "ann")
        async with httpx.AsyncClient(base_url=one.http) as http:
            token = (await login(http, "ann"))["token"]
        on_one = one.ws("doc") + f"?token={token}"
        on_two = two.ws("doc") + f"?token={token}"
        async with DraftroomClient(on_one), DraftroomClient(on_two):
            # One socket on each node: a third is too many, whichever node it tries.
            for url in (on_one, on_two):
                code, reason, _ = await ws_close(url)
                assert code == 4429 and "connections" in reason
        async with DraftroomClient(on_two) as again:  # leaving frees the slots everywhere
            assert again.close_code is None


@pytest.mark.serial
async def test_flooding_client_is_throttled_then_closed_without_slowing_the_room(
    tmp_path: Path,
) -> None:
    async with auth_server(tmp_path, ws_messages_per_second=50.0) as server:
        await add_user(server.hub, "flood")
        await add_user(server.hub, "calm")
        async with httpx.AsyncClient(base_url=server.http) as http:
            flood = (await login(http, "flood"))["token"]
            calm = (await login(http, "calm"))["token"]
            await http.post("/api/documents", json={"id": "room"}, headers=bearer(flood))
            await http.put(
                "/api/documents/room/members/calm", json={"role": "editor"}, headers=bearer(flood)
            )
        async with DraftroomClient(server.ws("room") + f"?token={calm}") as other:
            ws = await websockets.connect(server.ws("room") + f"?token={flood}&draftroom=1")
            awareness_query = bytes([MessageType.QUERY_AWARENESS])

            async def spam() -> None:
                try:
                    for _ in range(20_000):
                        await ws.send(awareness_query)
                except websockets.ConnectionClosed:
                    pass

            async def drain() -> None:  # keep reading, or the close frame is never seen
                try:
                    async for _ in ws:
                        pass
                except websockets.ConnectionClosed:
                    pass

            spammer = asyncio.get_running_loop().create_task(spam())
            reader = asyncio.get_running_loop().create_task(drain())
            # Meanwhile the other writer's edits are saved as usual.
            for i in range(20):
                n = other.insert(f"{i} ")
                await other.wait_saved(n, within=5)
            await asyncio.wait_for(spammer, 60)
            await asyncio.wait_for(reader, 30)
            assert ws.close_code == 4429 and "rate limit" in (ws.close_reason or "")
            assert other.close_code is None


def test_anonymous_needs_loopback(tmp_path: Path) -> None:
    from dataclasses import replace

    from devtools.inprocess import make_settings

    settings = replace(make_settings(tmp_path), host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        create_app(settings, Node(settings))
    r = subprocess.run(
        [sys.executable, "-m", "draftroom", "serve", "--host", "0.0.0.0", "--allow-anonymous",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert r.returncode == 2 and "loopback" in r.stderr


def test_serve_explains_the_first_account(draftroom_process: Any) -> None:
    proc = draftroom_process(anonymous=False)
    deadline = time.monotonic() + 10
    while (
        "draftroom user create" not in proc.stderr_path.read_text() + proc.stdout_path.read_text()
    ):
        assert time.monotonic() < deadline, proc.describe_logs()
        time.sleep(0.1)

"""Requests a hostile user or web page sends: each refused with a clear JSON error,
and the store unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from auth.helpers import add_user, auth_server, bearer, login
from devtools.inprocess import make_settings, running_server


async def test_csrf_is_needed_whatever_other_authorization_header_comes(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            await login(http, "ann")  # the session cookie is now in the jar
            for header in ("Basic YTpi", "Token abc", "x"):
                r = await http.post(
                    "/api/documents", json={"id": "forged"}, headers={"Authorization": header}
                )
                assert r.status_code == 403 and r.json()["error"] == "csrf", (header, r.text)
        assert await server.hub.store.get_document("forged") is None


async def test_an_api_token_cannot_mint_or_revoke_other_tokens(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            me = bearer((await login(http, "ann"))["token"])
            made = {}
            for scope in ("read", "admin"):
                r = await http.post(
                    "/api/tokens", json={"name": scope, "scopes": [scope]}, headers=me
                )
                assert r.status_code == 201
                made[scope] = r.json()
            read = bearer(made["read"]["token"])
            r = await http.post(
                "/api/tokens", json={"name": "more", "scopes": ["read"]}, headers=read
            )
            assert r.status_code == 403 and r.json()["error"] == "session_required"
            r = await http.delete(f"/api/tokens/{made['admin']['id']}", headers=read)
            assert r.status_code == 403 and r.json()["error"] == "session_required"
            admin = bearer(made["admin"]["token"])
            assert (await http.get("/api/me", headers=admin)).status_code == 200
            listed = (await http.get("/api/tokens", headers=me)).json()["tokens"]
            assert {t["name"] for t in listed} == {"read", "admin"}
            # A token may still revoke itself, and a session any of its user's tokens.
            assert (
                await http.delete(f"/api/tokens/{made['read']['id']}", headers=read)
            ).status_code == 204
            assert (
                await http.delete(f"/api/tokens/{made['admin']['id']}", headers=me)
            ).status_code == 204


async def test_anonymous_mode_answers_only_loopback_hosts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allowed_hosts="writer.test")
    async with running_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for host in ("127.0.0.1", "localhost:8000", "[::1]:80", "writer.test"):
                r = await http.get("/api/documents", headers={"Host": host})
                assert r.status_code == 200, (host, r.text)
            # A rebinding page's own name reaches the loopback port, but is refused.
            r = await http.post(
                "/api/documents", json={"id": "rebound"}, headers={"Host": "evil.example:8000"}
            )
            assert r.status_code == 403 and r.json()["error"] == "host_not_allowed"
            assert (await http.get("/healthz", headers={"Host": "evil.example"})).status_code == 403
        # The socket handshake too (raw: a client library sets Host itself).
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /ws/rebound HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status.startswith(b"HTTP/1.1 403"), status
        assert await server.hub.store.get_document("rebound") is None


async def test_deep_json_is_a_clear_error_not_a_500(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for depth in (20_000, 100):
                body = '{"id": "deep", "title": ' + "[" * depth + "]" * depth + "}"
                r = await http.post(
                    "/api/documents", content=body, headers={"Content-Type": "application/json"}
                )
                assert r.status_code == 422 and r.json()["error"] == "too_deep", r.text
        assert await server.hub.store.get_document("deep") is None


async def test_bodies_are_read_only_after_login(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for url in ("/api/documents/doc/agents/critique", "/api/export", "/api/documents"):
                r = await http.post(url, content=b"{not json")
                # 401 first: before, the agents and export routes read (and judged) the body.
                assert r.status_code == 401, (url, r.text)

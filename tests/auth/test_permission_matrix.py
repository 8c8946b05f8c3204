"""Every role x action, over HTTP and over the WebSocket (Python and unmodified JS clients)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from auth.helpers import add_user, auth_server, bearer, login, ws_close
from devtools.jsclient import JSHarness
from draftroom.client import DraftroomClient
from draftroom.document.load import build_doc

ROLES = ["owner", "editor", "commenter", "viewer", None]  # None: no role at all
ALLOWED = {
    "read": {"owner", "editor", "commenter", "viewer"},
    "export": {"owner", "editor", "commenter", "viewer"},
    "edit": {"owner", "editor"},
    "share": {"owner"},
    "delete": {"owner"},
}
DOC = "matrix-doc"


async def _stored_text(server, doc_id: str) -> str:  # type: ignore[no-untyped-def]
    await server.hub.store.flush()
    state = await server.hub.store.load(doc_id)
    return str(build_doc(state.snapshot, state.updates).get("text", type=__import__("pycrdt").Text))


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "stranger")
async def test_http_matrix(tmp_path: Path, role: str | None) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "u")
        await add_user(server.hub, "other")
        async with httpx.AsyncClient(base_url=server.http) as http:
            admin = bearer((await login(http, "root"))["token"])
            assert (
                await http.post("/api/documents", json={"id": DOC}, headers=admin)
            ).status_code == 201
            if role:
                r = await http.put(
                    f"/api/documents/{DOC}/members/u", json={"role": role}, headers=admin
                )
                assert r.status_code == 200, r.text
            me = bearer((await login(http, "u"))["token"])

            async def status(action: str) -> int:
                if action == "read":
                    codes = {
                        (await http.get(f"/api/documents/{DOC}", headers=me)).status_code,
                        (await http.get(f"/api/documents/{DOC}/content", headers=me)).status_code,
                        (await http.get(f"/api/documents/{DOC}/members", headers=me)).status_code,
                    }
                    assert len(codes) == 1, codes
                    return codes.pop()
                if action == "export":
                    return (
                        await http.get(f"/api/documents/{DOC}/export/md", headers=me)
                    ).status_code
                if action == "edit":
                    r = await http.patch(f"/api/documents/{DOC}", json={"title": "t"}, headers=me)
                    return r.status_code
                if action == "share":
                    r = await http.put(
                        f"/api/documents/{DOC}/members/other", json={"role": "viewer"}, headers=me
                    )
                    return r.status_code
                return (await http.delete(f"/api/documents/{DOC}", headers=me)).status_code

            for action in ["read", "export", "edit", "share", "delete"]:  # delete last
                code = await status(action)
                expected = {200, 204} if role in ALLOWED[action] else {403}
                assert code in expected, (role, action, code)
            # Unauthenticated: 401 everywhere, with the JSON error shape.
            http.cookies.clear()
            r = await http.get(f"/api/documents/{DOC}")
            assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
            # Listing shows only documents the caller holds a role on.
            listed = (await http.get("/api/documents", headers=me)).json()["documents"]
            if role and role != "owner":  # the owner deleted it above
                assert [d["id"] for d in listed] == [DOC]
            if role is None:
                assert listed == []


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "stranger")
async def test_websocket_matrix(tmp_path: Path, role: str | None) -> None:
    async with auth_server(tmp_path) as server:
        root = await add_user(server.hub, "root", admin=True)
        async with httpx.AsyncClient(base_url=server.http) as http:
            await add_user(server.hub, "u")
            admin = bearer((await login(http, "root"))["token"])
            await http.post("/api/documents", json={"id": DOC}, headers=admin)
            if role:
                await http.put(
                    f"/api/documents/{DOC}/members/u", json={"role": role}, headers=admin
                )
            token = (await login(http, "u"))["token"]
            root_token = (await login(http, "root"))["token"]
        url = server.ws(DOC) + f"?token={token}"
        if role is None:
            code, reason, frames = await ws_close(url)
            assert code == 4403 and "no access" in reason
            assert frames and frames[0][0] == 2  # y-websocket "permission denied" first
            return
        async with DraftroomClient(server.ws(DOC) + f"?token={root_token}") as owner:
            owner.insert("base ")
            await owner.wait_saved(owner.sent_updates)
            async with DraftroomClient(url) as client:
                assert str(client.text) == "base "  # everyone with a role can read
                n = client.insert("mine")
                if role in ALLOWED["edit"]:
                    await client.wait_saved(n)
                    assert await _stored_text(server, DOC) == "base mine"
                    return
                # Refused: an app error, the socket stays open, nothing stored or relayed.
                for _ in range(100):
                    if any(m.get("code") == "read_only" for m in client.app_log):
                        break
                    await asyncio.sleep(0.02)
                assert any(m.get("code") == "read_only" for m in client.app_log)
                owner.insert("more")
                await owner.wait_saved(owner.sent_updates)
                for _ in range(100):
                    if "more" in str(client.text):
                        break
                    await asyncio.sleep(0.02)
                assert "more" in str(client.text)  # still receives sync
                assert client.close_code is None
                assert await _stored_text(server, DOC) == "base more"
                assert "mine" not in str(owner.text)
        assert root.is_admin


async def test_js_viewer_edits_never_reach_the_store(tmp_path: Path, js: JSHarness) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        await add_user(server.hub, "v")
        async with httpx.AsyncClient(base_url=server.http) as http:
            admin = bearer((await login(http, "root"))["token"])
            await http.post("/api/documents", json={"id": DOC}, headers=admin)
            await http.put(
                f"/api/documents/{DOC}/members/v", json={"role": "viewer"}, headers=admin
            )
            viewer = (await login(http, "v"))["token"]
            root = (await login(http, "root"))["token"]
        base = f"ws://127.0.0.1:{server.port}/ws"
        await js.open("owner", base, DOC, params={"token": root})
        await js.open("viewer", base, DOC, params={"token": viewer})
        await js.wait_synced("owner")
        await js.wait_synced("viewer")
        await js.insert("owner", 0, "owned")
        await js.wait_text("viewer", "owned")  # the viewer receives sync
        await js.insert("viewer", 0, "VIEWER ")
        await js.insert("owner", 5, "!")
        await js.wait_text("viewer", "VIEWER owned!")  # its local copy diverges...
        await asyncio.sleep(0.3)
        assert await js.text("owner") == "owned!"  # ...but nobody else sees its edit
        assert await _stored_text(server, DOC) == "owned!"
        status = await js.status("viewer")
        assert status["connected"], status  # not disconnected: plain clients just get nothing

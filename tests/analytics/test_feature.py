"""Analytics as a feature: whom editing sessions are recorded as, and erasure when an
account is deleted by either path (the API or ``draftroom user delete``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from auth.helpers import add_user, auth_server, login

from draftroom import cli
from draftroom.analytics.recorder import Analytics
from draftroom.auth.permissions import Members
from draftroom.client import DraftroomClient


async def test_websocket_sessions_are_recorded_as_the_admitted_user(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        ann = await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
        async with DraftroomClient(f"{server.ws('novel')}?token={token}") as client:
            await client.wait_saved(client.insert("a few words"))
        analytics = server.hub.feature(Analytics)
        for _ in range(100):  # the session's end is recorded once the socket is gone
            await analytics.flush()
            rows = await analytics.sql.fetch("SELECT kind, user_id FROM analytics_events")
            if any(r["kind"] == "session.ended" for r in rows):
                break
            await asyncio.sleep(0.05)
        kinds = {r["kind"] for r in rows}
        assert {"session.started", "document.opened", "session.ended"} <= kinds
        assert {r["user_id"] for r in rows} == {ann.id}


async def test_cli_user_delete_erases_analytics_like_the_api(
    tmp_path: Path, postgres_url: str
) -> None:
    async with auth_server(tmp_path, postgres_url) as server:
        ann = await add_user(server.hub, "ann")
        bob = await add_user(server.hub, "bob")
        analytics = server.hub.feature(Analytics)
        for user in (ann.id, bob.id):
            analytics.record("session.started", user, "doc")
        await analytics.flush()
        argv = ["user", "delete", "ann", "--database-url", postgres_url]
        assert await asyncio.to_thread(cli.main, argv) == 0
        left = await analytics.sql.fetch("SELECT DISTINCT user_id FROM analytics_events")
        assert {r["user_id"] for r in left} == {bob.id}
        gone = await server.hub.store.sql.fetchrow("SELECT 1 FROM users WHERE id = $1", ann.id)
        assert gone is None


async def test_cli_user_delete_reaches_running_nodes_through_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    # A long re-check interval: the socket can only close this fast if told.
    async with auth_server(
        tmp_path, postgres_url, redis_url=redis_url, auth_recheck_seconds=60.0
    ) as server:
        ann = await add_user(server.hub, "ann")
        async with httpx.AsyncClient(base_url=server.http) as http:
            token = (await login(http, "ann"))["token"]
        async with DraftroomClient(f"{server.ws('doc')}?token={token}") as client:
            # ann's socket created "doc"; a second owner lets her account go.
            bob = await add_user(server.hub, "bob")
            await Members(server.hub.store.sql).grant("doc", bob.id, "owner")
            analytics = server.hub.feature(Analytics)
            analytics.record("agent.used", ann.id, "doc", label="style")  # still buffered
            argv = ["user", "delete", "ann", "--database-url", postgres_url]
            argv += ["--redis-url", redis_url]
            assert await asyncio.to_thread(cli.main, argv) == 0
            assert await client.wait_closed(within=5) == 4401
        for _ in range(100):  # the node erases in the background, then stores nothing of ann
            await analytics.flush()
            left = await analytics.sql.fetch(
                "SELECT 1 FROM analytics_events WHERE user_id = $1", ann.id
            )
            if not left:
                break
            await asyncio.sleep(0.05)
        assert left == []


async def test_a_deleted_users_open_session_leaves_no_events_behind(
    tmp_path: Path, postgres_url: str
) -> None:
    async with auth_server(tmp_path, postgres_url) as server:
        root = await add_user(server.hub, "root", admin=True)
        ann = await add_user(server.hub, "ann")
        analytics = server.hub.feature(Analytics)
        async with httpx.AsyncClient(base_url=server.http) as http:
            admin = {"Authorization": f"Bearer {(await login(http, 'root'))['token']}"}
            token = (await login(http, "ann"))["token"]
            async with DraftroomClient(f"{server.ws('doc')}?token={token}") as client:
                await client.wait_saved(client.insert("words"))
                # ann's socket created "doc"; a second owner lets her account go.
                await Members(server.hub.store.sql).grant("doc", root.id, "owner")
                assert (await http.delete("/api/users/ann", headers=admin)).status_code == 204
                assert await client.wait_closed() == 4401
        # The socket's session ends after the account is gone: its end event must not
        # bring the user's id back into the table.
        await asyncio.sleep(0.3)
        await analytics.flush()
        left = await analytics.sql.fetch(
            "SELECT kind FROM analytics_events WHERE user_id = $1", ann.id
        )
        assert left == []

"""Usage analytics: batched events, words without text, retention purge, user erasure."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from auth.helpers import add_user, auth_server, bearer, login

from devtools.inprocess import make_settings, running_server
from draftroom.analytics.recorder import DAY, INSERT, Analytics, Event
from draftroom.client import DraftroomClient

TOKEN = "admin-test-token"


async def test_sessions_retention_and_erasure(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(
        tmp_path, postgres_url, analytics_admin_token=TOKEN, analytics_retention_days=90.0,
        allow_anonymous=True,
    )  # fmt: skip
    async with running_server(settings) as server:
        analytics = server.hub.optional(Analytics)
        assert analytics is not None
        secret_text = "zebra quokka marmalade "  # 23 characters, 3 words
        async with DraftroomClient(server.ws("novel")) as client:
            await client.set_awareness(client.doc.client_id, 1, "{}")
            n = client.insert(secret_text)
            await client.wait_saved(n)
        now = time.time()
        old = now - 100 * DAY
        await analytics.sql.executemany(
            INSERT,
            [
                Event(old, "session.started", "alice", "old-doc").row(),
                Event(now, "session.started", "alice", "doc-a").row(),
                Event(now, "session.started", "bob", "doc-b").row(),
                Event(now, "agent.used", "bob", "doc-b", label="summarize").row(),
                Event(now, "export.made", "alice", "doc-a", label="docx").row(),
            ],
        )
        analytics.record("session.started", "bob", "doc-c")  # still buffered
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.http, headers=headers) as http:
            # Waits for the session's end event (recorded when the socket closed).
            for _ in range(50):
                await analytics.flush()
                ended = await analytics.sql.fetch(
                    "SELECT value FROM analytics_events WHERE kind = 'session.ended'"
                )
                if ended:
                    break
                await asyncio.sleep(0.05)
            assert [r["value"] for r in ended] == [round(len(secret_text) / 6)]
            summary = (await http.get("/api/admin/analytics?days=7")).json()
            today = summary["daily"][-1]
            # alice, bob, and the anonymous writer of "novel"
            assert today["active_writers"] == 3
            assert today["words_added"] == round(len(secret_text) / 6)
            assert summary["weekly"][0]["active_writers"] == 3
            assert summary["agents"] == [{"agent": "summarize", "uses": 1, "users": 1}]
            assert summary["exports"] == [{"format": "docx", "uses": 1, "users": 1}]

            # Nothing stored is document text.
            rows = await analytics.sql.fetch("SELECT * FROM analytics_events")
            assert all("zebra" not in str(v) for r in rows for v in r.values())

            # Retention: the 100-day-old event goes, the rest stays.
            assert await analytics.purge() == 1
            rows = await analytics.sql.fetch("SELECT user_id, doc_id FROM analytics_events")
            users_docs = {(r["user_id"], r["doc_id"]) for r in rows}
            assert ("alice", "old-doc") not in users_docs and ("alice", "doc-a") in users_docs

            # Erasure: every event of bob, stored or buffered, is gone; others stay.
            analytics.record("document.opened", "bob", "doc-d")
            response = await http.delete("/api/admin/analytics/users/bob")
            assert response.status_code == 200 and response.json()["events_deleted"] >= 3
            await analytics.flush()
            left = await analytics.sql.fetch("SELECT DISTINCT user_id FROM analytics_events")
            assert {r["user_id"] for r in left} == {"alice", "anonymous"}


async def test_admin_api_needs_admin_or_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, analytics_admin_token=TOKEN, allow_anonymous=False)
    async with running_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            nobody = await http.get("/api/admin/analytics")
            wrong = await http.get("/api/admin/analytics", headers={"authorization": "Bearer x"})
            right = await http.get(
                "/api/admin/analytics", headers={"authorization": f"Bearer {TOKEN}"}
            )
    assert nobody.status_code == 401 and wrong.status_code == 401
    assert nobody.json()["error"] == "unauthenticated"
    assert right.status_code == 200 and right.json()["days"] == 30


async def test_deleting_an_account_erases_its_events(tmp_path: Path, postgres_url: str) -> None:
    async with auth_server(tmp_path, postgres_url) as server:
        root = await add_user(server.hub, "root", admin=True)
        ann = await add_user(server.hub, "ann")
        analytics = server.hub.optional(Analytics)
        assert analytics is not None
        for user in (root.id, ann.id):
            analytics.record("session.started", user, "doc")
        await analytics.flush()
        analytics.record("document.opened", ann.id, "doc")  # still buffered
        async with httpx.AsyncClient(base_url=server.http) as http:
            headers = bearer((await login(http, "root"))["token"])
            # Site admins may read the aggregates without the analytics token.
            assert (await http.get("/api/admin/analytics", headers=headers)).status_code == 200
            assert (await http.delete("/api/users/ann", headers=headers)).status_code == 204
        await analytics.flush()
        left = await analytics.sql.fetch("SELECT DISTINCT user_id FROM analytics_events")
        assert {r["user_id"] for r in left} == {root.id}

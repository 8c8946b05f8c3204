"""A role changed while a socket is open: the client is told (a ``role`` message) and
the server accepts or refuses its edits from then on, on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.helpers import add_user, auth_server, bearer, login
from devtools.waiting import eventually
from draftroom.client import DraftroomClient


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


def _roles(client: DraftroomClient) -> list[tuple[Any, Any]]:
    return [(m["role"], m["read_only"]) for m in client.app_log if m.get("type") == "role"]


async def test_the_client_hears_its_new_role_and_edits_follow_it(
    tmp_path: Path, store_url: str | None
) -> None:
    async with auth_server(tmp_path, store_url) as server:
        await add_user(server.hub, "ann")
        await add_user(server.hub, "bob")
        async with httpx.AsyncClient(base_url=server.http) as http:
            ann = bearer((await login(http, "ann"))["token"])
            bob = (await login(http, "bob"))["token"]
            assert (await http.post("/api/documents", json={"id": "doc"}, headers=ann)).is_success

            async def share(role: str) -> None:
                r = await http.put(
                    "/api/documents/doc/members/bob", json={"role": role}, headers=ann
                )
                assert r.status_code == 200, r.text

            await share("viewer")
            async with DraftroomClient(server.ws("doc") + f"?token={bob}") as client:
                welcome = next(m for m in client.app_log if m.get("type") == "welcome")
                assert (welcome["role"], welcome["read_only"]) == ("viewer", True)

                await share("editor")
                await eventually(lambda: _roles(client) == [("editor", False)], within=5)
                await client.wait_saved(client.insert("now I may"))

                await share("viewer")
                await eventually(
                    lambda: _roles(client) == [("editor", False), ("viewer", True)], within=5
                )
                client.insert(" but not now")
                await eventually(
                    lambda: any(m.get("code") == "read_only" for m in client.app_log), within=5
                )
                # The same role again is no change: no message.
                await share("viewer")
                await asyncio.sleep(0.3)
                assert len(_roles(client)) == 2
            r = await http.get("/api/documents/doc/content", headers=ann)
            assert r.json()["text"] == "now I may"

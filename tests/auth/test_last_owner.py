"""A document always keeps an owner: the last one can be neither demoted nor removed
(else nobody could share or delete it), on both stores."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from auth.helpers import add_user, auth_server, bearer, login


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_the_last_owner_stays(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    doc = f"owned-{store}"
    async with auth_server(tmp_path, url) as server:
        for name in ("founder", "alice", "bob"):
            await add_user(server.hub, name)
        async with httpx.AsyncClient(base_url=server.http) as http:
            founder = bearer((await login(http, "founder"))["token"])
            alice = bearer((await login(http, "alice"))["token"])
            bob = bearer((await login(http, "bob"))["token"])
            members = f"/api/documents/{doc}/members"

            async def roles() -> dict[str, str]:
                listed = (await http.get(members, headers=founder)).json()["members"]
                return {m["user"]: m["role"] for m in listed}

            assert (
                await http.post("/api/documents", json={"id": doc}, headers=founder)
            ).status_code == 201
            assert await roles() == {"founder": "owner"}

            # The only owner cannot step down or leave.
            r = await http.put(f"{members}/founder", json={"role": "editor"}, headers=founder)
            assert (r.status_code, r.json()["error"]) == (409, "last_owner")
            r = await http.delete(f"{members}/founder", headers=founder)
            assert (r.status_code, r.json()["error"]) == (409, "last_owner")
            assert await roles() == {"founder": "owner"}

            # With a second owner, either may go.
            assert (
                await http.put(f"{members}/alice", json={"role": "owner"}, headers=founder)
            ).status_code == 200
            assert (
                await http.put(f"{members}/founder", json={"role": "editor"}, headers=alice)
            ).status_code == 200
            assert await roles() == {"founder": "editor", "alice": "owner"}
            r = await http.delete(f"{members}/alice", headers=alice)
            assert (r.status_code, r.json()["error"]) == (409, "last_owner")

            assert (
                await http.put(f"{members}/bob", json={"role": "owner"}, headers=alice)
            ).status_code == 200
            assert (await http.delete(f"{members}/alice", headers=alice)).status_code == 204
            assert await roles() == {"founder": "editor", "bob": "owner"}
            r = await http.put(f"{members}/bob", json={"role": "viewer"}, headers=bob)
            assert r.status_code == 409
            # Granting the role one already has is not a change, and not refused.
            assert (
                await http.put(f"{members}/bob", json={"role": "owner"}, headers=bob)
            ).status_code == 200
            assert await roles() == {"founder": "editor", "bob": "owner"}

"""Every time in a JSON response has one format: ISO 8601, UTC, milliseconds, Z."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from auth.helpers import add_user, auth_server, bearer, login

from draftroom.times import iso

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _times(value: Any, path: str = "") -> dict[str, Any]:
    """Every field named like a time (…_at, at), anywhere in a JSON value."""
    found: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "at" or key.endswith("_at"):
                found[f"{path}.{key}"] = item
            found.update(_times(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.update(_times(item, f"{path}[{i}]"))
    return found


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    epoch = datetime(2026, 11, 29, 10, 45, 0, 123456, tzinfo=UTC).timestamp()
    assert iso(epoch) == "2026-11-29T10:45:00.123Z"  # truncated, not rounded
    assert iso(datetime(2026, 11, 29, 10, 45, tzinfo=UTC)) == "2026-11-29T10:45:00.000Z"
    assert iso(datetime(2026, 11, 29, 10, 45)) == "2026-11-29T10:45:00.000Z"  # naive = UTC


async def test_every_time_in_a_response_is_iso_z(tmp_path: Path) -> None:
    async with auth_server(tmp_path) as server:
        await add_user(server.hub, "root", admin=True)
        async with httpx.AsyncClient(base_url=server.http) as http:
            session = await login(http, "root")
            me = bearer(session["token"])
            bodies: list[dict[str, Any]] = [session]
            created = await http.post("/api/documents", json={"id": "doc"}, headers=me)
            bodies.append(created.json())
            bodies.append((await http.get("/api/documents", headers=me)).json())
            token = await http.post("/api/tokens", json={"name": "t"}, headers=me)
            bodies.append(token.json())
            # last_used_at is set once the token has been used
            await http.get("/api/me", headers=bearer(token.json()["token"]))
            bodies.append((await http.get("/api/tokens", headers=me)).json())
            bodies.append((await http.get("/api/users", headers=me)).json())
            job = await http.post(
                "/api/export/jobs", json={"documents": ["doc"], "format": "md"}, headers=me
            )
            assert job.status_code == 202, job.text
            for _ in range(200):
                state = (await http.get(f"/api/export/jobs/{job.json()['id']}", headers=me)).json()
                if state["state"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.05)
            bodies.append(state)
    times = {k: v for i, body in enumerate(bodies) for k, v in _times(body, f"[{i}]").items()}
    names = {k.rsplit(".", 1)[1] for k in times}
    assert {"expires_at", "created_at", "updated_at", "finished_at"} <= names, names
    wrong = {k: v for k, v in times.items() if v is not None and not ISO_Z.fullmatch(str(v))}
    assert wrong == {}

"""Shared by the auth tests: servers with auth on, users, logins, raw sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.auth.users import User, Users
from draftroom.node import Node


def auth_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Any:
    return make_settings(tmp_path, database_url, allow_anonymous=False, **overrides)


@asynccontextmanager
async def auth_server(
    tmp_path: Path, database_url: str | None = None, **overrides: Any
) -> AsyncIterator[RunningServer]:
    async with running_server(auth_settings(tmp_path, database_url, **overrides)) as server:
        yield server


def password_of(name: str) -> str:
    return f"pw-{name}-123456"


async def add_user(hub: Node, name: str, *, admin: bool = False) -> User:
    return await Users(hub.store.sql).create(name, password_of(name), admin=admin)


async def login(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await http.post("/api/sessions", json={"username": name, "password": password_of(name)})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ws_close(url: str, **kwargs: Any) -> tuple[int | None, str, list[bytes]]:
    """Open a raw socket, read until the server closes it: (code, reason, frames)."""
    frames: list[bytes] = []
    ws = await websockets.connect(url, max_size=None, compression=None, **kwargs)
    try:
        async with asyncio.timeout(10):
            async for frame in ws:
                frames.append(frame if isinstance(frame, bytes) else frame.encode())
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or "", frames

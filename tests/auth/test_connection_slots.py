"""A socket's place under the per-user connection cap comes back on every way it can end.

Each close path is driven more times than the cap allows open at once; afterwards the user
must still connect, no socket may still count on the node, and (with Redis) no lease may be
left in the shared set. A slot that leaked would lock the user out for good: locally the
count never drops, and with Redis the node keeps renewing the stale lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import msgpack
import pytest
import websockets

from auth.helpers import add_user, auth_server, bearer, login
from devtools.inprocess import RunningServer
from devtools.redis import redis_command
from devtools.waiting import eventually
from draftroom.auth.connection_cap import KEY

CAP = 2
ROUNDS = CAP + 3
MAX_MESSAGE = 64 * 1024  # below uvicorn's own frame limit, so the app itself refuses it

Path_ = Callable[[RunningServer, dict[str, str]], Awaitable[None]]


async def _open(srv: RunningServer, token: str, **kw: object) -> websockets.ClientConnection:
    ws = await websockets.connect(srv.ws("slots") + f"?token={token}&draftroom=1", **kw)  # type: ignore[arg-type]
    first = await ws.recv()
    # sync step 1 means admitted (a slot taken); a refusal starts with an auth message
    assert isinstance(first, bytes) and first[:1] == b"\x00", (first, ws.close_code)
    return ws


async def _until_closed(ws: websockets.ClientConnection) -> None:
    try:
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    except TimeoutError:
        raise AssertionError("the server did not close the socket") from None


async def client_close(srv: RunningServer, who: dict[str, str]) -> None:
    ws = await _open(srv, who["view"])
    await ws.close()


async def client_vanishes(srv: RunningServer, who: dict[str, str]) -> None:
    # no close frame: the TCP connection just drops
    ws = await _open(srv, who["view"])
    ws.transport.abort()


async def rejected_update(srv: RunningServer, who: dict[str, str]) -> None:
    # a truncated update: the room raises Rejected and the server closes
    ws = await _open(srv, who["view"])
    await ws.send(bytes([0, 2, 9, 0xFF, 0xFF, 0xFF]))
    await _until_closed(ws)


async def garbage_frame(srv: RunningServer, who: dict[str, str]) -> None:
    ws = await _open(srv, who["view"])
    await ws.send(bytes([100]) + msgpack.packb({"type": 7}))
    await _until_closed(ws)


async def server_closes_oversized(srv: RunningServer, who: dict[str, str]) -> None:
    ws = await _open(srv, who["view"])
    await ws.send(b"\x00" * (MAX_MESSAGE + 1))
    await _until_closed(ws)


async def kicked(srv: RunningServer, who: dict[str, str]) -> None:
    ws = await _open(srv, who["view"])
    async with httpx.AsyncClient(base_url=srv.http) as http:
        r = await http.put(
            "/api/documents/slots/members/view", json={"role": "viewer"}, headers=bearer(who["own"])
        )
        assert r.status_code in (200, 201), r.text
        r = await http.delete("/api/documents/slots/members/view", headers=bearer(who["own"]))
        assert r.status_code in (200, 204), r.text
    await _until_closed(ws)
    assert ws.close_code == 4403
    async with httpx.AsyncClient(base_url=srv.http) as http:
        await http.put(
            "/api/documents/slots/members/view", json={"role": "viewer"}, headers=bearer(who["own"])
        )


async def cancelled_twice(srv: RunningServer, who: dict[str, str]) -> None:
    # the server cancels the handler (a shutdown does), and cancels it again while it is
    # cleaning up: the slot must still be released
    ws = await _open(srv, who["view"])
    conns = [c for c in srv.hub.connections if c.user == who["view_id"]]
    assert len(conns) == 1
    task = conns[0]._reader_task
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    await _until_closed(ws)


PATHS: list[Path_] = [
    client_close,
    client_vanishes,
    rejected_update,
    garbage_frame,
    server_closes_oversized,
    kicked,
    cancelled_twice,
]


async def _exercise(srv: RunningServer, path: Path_, redis_url: str | None) -> None:
    await add_user(srv.hub, "own")
    view = await add_user(srv.hub, "view")
    async with httpx.AsyncClient(base_url=srv.http) as http:
        own = (await login(http, "own"))["token"]
        token = (await login(http, "view"))["token"]
        await http.post("/api/documents", json={"id": "slots"}, headers=bearer(own))
        r = await http.put(
            "/api/documents/slots/members/view", json={"role": "viewer"}, headers=bearer(own)
        )
        assert r.status_code in (200, 201), r.text
    who = {"own": own, "view": token, "view_id": view.id}
    for _ in range(ROUNDS):
        await path(srv, who)

    def settled() -> bool:
        return not any(c.user == view.id for c in srv.hub.connections)

    await eventually(settled, 10, what="every socket of the user left the node")
    if redis_url is not None:
        await eventually(lambda: redis_command(redis_url, "ZCARD", KEY + view.id) == 0, 10)
    # the user still gets in, up to the cap
    sockets = [await _open(srv, token) for _ in range(CAP)]
    for ws in sockets:
        await ws.close()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
async def test_slot_is_released_without_redis(tmp_path: Path, path: Path_) -> None:
    async with auth_server(
        tmp_path, max_connections_per_user=CAP, max_message_bytes=MAX_MESSAGE
    ) as srv:
        await _exercise(srv, path, None)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
async def test_slot_is_released_with_redis(tmp_path: Path, redis_url: str, path: Path_) -> None:
    async with auth_server(
        tmp_path, max_connections_per_user=CAP, max_message_bytes=MAX_MESSAGE, redis_url=redis_url
    ) as srv:
        await _exercise(srv, path, redis_url)

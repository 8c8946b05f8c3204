"""Rebalancing: a node well above the cluster's mean moves clients, then stops.

Two nodes share PostgreSQL and Redis. Twelve writers (one user each) all sit on
node A, as after a scale-out; node B is new and empty. The test plays the load
balancer: a writer closed with 1012 reconnects to the node with fewer sockets. A
must settle near half, no writer is moved twice, nobody is moved with an edit
unacknowledged, and every acknowledged edit is in the document afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
from auth.helpers import add_user, auth_server, login

from devtools.inprocess import RunningServer
from devtools.waiting import eventually
from draftroom.admission.rebalance import Rebalancer
from draftroom.client import DraftroomClient

WRITERS = 12


class Writer:
    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.token = token
        self.client: DraftroomClient | None = None
        self.moves: list[int | None] = []
        self.acked: list[str] = []

    async def connect(self, srv: RunningServer) -> None:
        self.client = DraftroomClient(f"{srv.ws('shared')}?token={self.token}")
        await self.client.connect()

    async def type_one(self, n: int) -> None:
        assert self.client is not None
        marker = f"<{self.name}:{n}>"
        upto = self.client.insert(marker, len(str(self.client.text)))
        with contextlib.suppress(TimeoutError):
            await self.client.wait_saved(upto, within=5)
            if self.client.saved_upto >= upto:
                self.acked.append(marker)


async def test_a_node_above_its_share_moves_clients_until_even(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    common = dict(redis_url=redis_url, rebalance_seconds=0.3)
    async with (
        auth_server(tmp_path / "a", postgres_url, **common) as a,
        auth_server(tmp_path / "b", postgres_url, **common) as b,
        httpx.AsyncClient(base_url=a.http) as http,
    ):
        writers = []
        for i in range(WRITERS):
            await add_user(a.hub, f"w{i}", admin=i == 0)
            writers.append(Writer(f"w{i}", (await login(http, f"w{i}"))["token"]))
        owner = writers[0]
        r = await http.post(
            "/api/documents",
            json={"id": "shared"},
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        assert r.status_code == 201, r.text
        for w in writers[1:]:
            r = await http.put(
                f"/api/documents/shared/members/{w.name}",
                json={"role": "editor"},
                headers={"Authorization": f"Bearer {owner.token}"},
            )
            assert r.status_code in (200, 201, 204), r.text
        # All on A (B's rebalancer is running too, but B is below the mean).
        b_rebalancer = b.hub.feature(Rebalancer)
        for w in writers:
            await w.connect(a)

        stop = asyncio.Event()

        async def keep_typing(w: Writer) -> None:
            n = 0
            while not stop.is_set():
                assert w.client is not None
                if w.client.close_code is not None:  # moved: the "load balancer" picks
                    w.moves.append(w.client.close_code)
                    target = a if len(a.hub.connections) < len(b.hub.connections) else b
                    await w.connect(target)
                n += 1
                await w.type_one(n)
                await asyncio.sleep(0.05)

        typing = [asyncio.create_task(keep_typing(w)) for w in writers]
        await eventually(
            lambda: abs(len(a.hub.connections) - len(b.hub.connections)) <= 2,
            within=30,
            what="connections even",
        )
        settled = a.hub.feature(Rebalancer).moved
        await asyncio.sleep(2.0)  # several more rounds: an even cluster stays put
        stop.set()
        await asyncio.gather(*typing)
        assert a.hub.feature(Rebalancer).moved == settled
        assert b_rebalancer.moved == 0
        assert settled >= 4
        assert all(code == 1012 for w in writers for code in w.moves)
        assert max(len(w.moves) for w in writers) == 1, [w.moves for w in writers]

        for w in writers:
            assert w.client is not None
            await w.client.close()
        r = await http.get(
            "/api/documents/shared/content", headers={"Authorization": f"Bearer {owner.token}"}
        )
        text = r.json()["text"]
        acked = [m for w in writers for m in w.acked]
        assert len(acked) > 50
        assert [m for m in acked if m not in text] == []

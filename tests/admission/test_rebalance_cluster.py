"""Scale-out on a real cluster: 2 -> 3 nodes under load, connections even out.

Real node processes behind HAProxy (``leastconn``), PostgreSQL through pgbouncer in
transaction mode, and Redis (``devtools.cluster``). Writers, one account each, type
markers through the load balancer and reconnect through it when closed, as
y-websocket does. A third node is started while they type; the rebalancer must
bring every node near the mean within 60 s, move nobody twice, and lose no
acknowledged marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from pycrdt import Text
from websockets.exceptions import ConnectionClosed

from devtools.cluster import Cluster
from draftroom.client import DraftroomClient

from .cluster_accounts import connections, writer_accounts

WRITERS = 24


@pytest.fixture
def cluster(postgres_url: str, redis_url: str) -> Iterator[Cluster]:
    running = Cluster(
        3,
        node_args=("--catchup-seconds", "0.5", "--rebalance-seconds", "1"),
        postgres_url=postgres_url,
        redis_url=redis_url,
        started=2,
        pgbouncer=True,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


class Writer:
    def __init__(self, name: str, token: str, ws_base: str) -> None:
        self.name = name
        self.url = f"{ws_base}/doc-{name}?token={token}"
        self.client = DraftroomClient(self.url)
        self.moves: list[int | None] = []
        self.acked: list[str] = []

    async def connect(self) -> None:
        """Connect, retrying like y-websocket (a loaded machine may time a handshake
        out); the Yjs doc is kept, so its sync step 2 re-sends anything unacknowledged."""
        doc = self.client.doc
        for attempt in range(10):
            self.client = DraftroomClient(self.url, connect_timeout=20)
            self.client.doc, self.client.text = doc, doc.get("text", type=Text)
            try:
                await self.client.connect()
                return
            except (TimeoutError, OSError, ConnectionClosed):
                # ConnectionClosed: shed (1012) while still syncing, as a real client
                # may be; it reconnects like any other.
                await asyncio.sleep(min(0.1 * 2**attempt, 2.5))
        raise AssertionError(f"{self.name} could not reconnect")

    async def run(self, stop: asyncio.Event) -> None:
        await self.connect()
        n = 0
        while not stop.is_set():
            if self.client.close_code is not None:
                self.moves.append(self.client.close_code)
                await self.connect()
            n += 1
            marker = f"<{self.name}:{n}>"
            upto = self.client.insert(marker, len(str(self.client.text)))
            with contextlib.suppress(TimeoutError):
                await self.client.wait_saved(upto, within=5)
            if self.client.saved_upto >= upto:
                self.acked.append(marker)
            await asyncio.sleep(0.1)


async def test_two_to_three_nodes_connections_even_out(cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:
        accounts = await writer_accounts(cluster, http, WRITERS)
        writers = [Writer(name, token, cluster.ws_base) for name, token in accounts]

        stop = asyncio.Event()
        typing = [asyncio.create_task(w.run(stop)) for w in writers]
        try:
            first, second, third = (n.http_url for n in cluster.nodes)
            deadline = time.monotonic() + 60
            while await connections(first) + await connections(second) < WRITERS:
                failed = [t.exception() for t in typing if t.done()]
                assert time.monotonic() < deadline, f"writers did not all connect: {failed[:3]}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # typing on two nodes for a while

            cluster.start_node(2)
            started = time.monotonic()
            fair = WRITERS / 3
            while True:
                counts = [await connections(u) for u in (first, second, third)]
                if sum(counts) >= WRITERS - 1 and all(abs(c - fair) <= 2 for c in counts):
                    break
                assert time.monotonic() - started < 60, f"not even within 60 s: {counts}"
                await asyncio.sleep(0.5)
            evened = time.monotonic() - started
            await asyncio.sleep(3)  # and it stays put
        finally:
            stop.set()
            await asyncio.gather(*typing, return_exceptions=True)
        print(
            f"\nevened out in {evened:.1f} s: {counts}; moves: {sum(len(w.moves) for w in writers)}"
        )
        assert all(code == 1012 for w in writers for code in w.moves)
        assert max(len(w.moves) for w in writers) <= 1, [w.moves for w in writers]

        lost = []
        for w in writers:
            await w.client.close()
            r = await http.get(
                f"/api/documents/doc-{w.name}/content",
                headers={"Authorization": f"Bearer {w.url.split('token=')[1]}"},
            )
            text = r.json()["text"]
            lost += [m for m in w.acked if m not in text]
        assert sum(len(w.acked) for w in writers) > 100
        assert lost == []

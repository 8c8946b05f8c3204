"""Scale-in on a real cluster: 3 -> 2 nodes by SIGTERM, drained clients back within 5 s.

Three node processes behind HAProxy (``leastconn``, ``/readyz`` checks), PostgreSQL
through pgbouncer in transaction mode, and Redis (``devtools.cluster``). Writers, one
account each, type markers through the load balancer and reconnect as y-websocket does:
100 ms after a socket that was open closes, backing off only on failed opens. One node
gets SIGTERM while they type (``Cluster.stop_node``, what an autoscaler's scale-in
does). It must exit 0 after a complete drain; every client it closed must have an edit
saved on another node within 5 s of the close; every marker acknowledged anywhere must
be in the stored documents afterwards.

Rebalancing is off here so that the only closes are the drain's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Text

from devtools.cluster import Cluster
from draftroom.client import DraftroomClient

from .cluster_accounts import connections, writer_accounts

WRITERS = 15
BACK_WITHIN = 5.0
VICTIM = 2


@pytest.fixture
def cluster(postgres_url: str, redis_url: str) -> Iterator[Cluster]:
    running = Cluster(
        3,
        node_args=("--catchup-seconds", "0.5", "--rebalance-seconds", "0"),
        postgres_url=postgres_url,
        redis_url=redis_url,
        pgbouncer=True,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def first_of(*waits: Coroutine[Any, Any, Any], within: float) -> None:
    """Until one of ``waits`` ends (however it ends), or ``within`` seconds."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Writer:
    def __init__(self, name: str, token: str, ws_base: str) -> None:
        self.name = name
        self.token = token
        self.url = f"{ws_base}/doc-{name}?token={token}"
        self.client = DraftroomClient(self.url)
        self.closes: list[tuple[float, int | None]] = []  # (when, close code)
        self.back: list[float] = []  # after each close: when the next edit was saved
        self.acked: list[str] = []
        self.closed_at = 0.0
        self.bounces = 0  # sockets the draining node opened and closed at once
        self.failed_opens = 0

    def _watch(self, client: DraftroomClient) -> None:
        """Note when the socket closes, not when the typing loop next looks."""

        def closed(_: object) -> None:
            self.closed_at = time.monotonic()

        asyncio.ensure_future(client.wait_closed(3600)).add_done_callback(closed)

    async def connect(self) -> None:
        """Open and sync, keeping the Yjs doc: its sync step 2 re-sends whatever was
        not acknowledged. A draining node that HAProxy has not yet taken out of
        rotation opens the socket and closes it at once (1012): y-websocket then
        retries after 100 ms, and so does this."""
        doc = self.client.doc
        failed_opens = 0
        for _ in range(100):
            client = DraftroomClient(self.url, connect_timeout=20)
            client.doc, client.text = doc, doc.get("text", type=Text)
            try:
                await client.connect(wait_synced=False)
            except (TimeoutError, OSError, websockets.WebSocketException):
                failed_opens += 1
                self.failed_opens += 1
                await asyncio.sleep(min(0.1 * 2**failed_opens, 2.5))
                continue
            self.client = client
            await first_of(client.synced.wait(), client.wait_closed(20), within=20)
            if client.synced.is_set() and client.close_code is None:
                self._watch(client)
                return
            self.bounces += 1
            await client.close()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} could not reconnect")

    async def run(self, stop: asyncio.Event) -> None:
        await self.connect()
        n = 0
        while not stop.is_set():
            if self.client.close_code is not None:
                self.closes.append((self.closed_at, self.client.close_code))
                await asyncio.sleep(0.1)
                await self.connect()
            n += 1
            marker = f"<{self.name}:{n}>"
            upto = self.client.insert(marker)
            client = self.client
            await first_of(client.wait_saved(upto, 5), client.wait_closed(5), within=5)
            if client.saved_upto >= upto:
                self.acked.append(marker)
                if len(self.back) < len(self.closes):
                    self.back.append(time.monotonic())
            await asyncio.sleep(0.1)


async def make_writers(cluster: Cluster, http: httpx.AsyncClient) -> list[Writer]:
    accounts = await writer_accounts(cluster, http, WRITERS)
    return [Writer(name, token, cluster.ws_base) for name, token in accounts]


async def test_three_to_two_nodes_by_sigterm_drained_clients_are_back_within_5_s(
    cluster: Cluster,
) -> None:
    urls = [n.http_url for n in cluster.nodes]
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:
        writers = await make_writers(cluster, http)
        stop = asyncio.Event()
        typing = [asyncio.create_task(w.run(stop)) for w in writers]
        try:
            deadline = time.monotonic() + 60
            while sum([await connections(u) for u in urls]) < WRITERS:
                failed = [t.exception() for t in typing if t.done()]
                assert time.monotonic() < deadline, f"writers did not all connect: {failed[:3]}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # typing on three nodes for a while
            on_victim = await connections(urls[VICTIM])
            assert on_victim > 0, "leastconn gave the node that is stopped no clients"
            acked_before = sum(len(w.acked) for w in writers)

            sigterm = time.monotonic()
            exit_code = await asyncio.to_thread(cluster.stop_node, VICTIM)
            stopped_in = time.monotonic() - sigterm
            # Every client is back on the two others, and typing goes on there.
            while sum([await connections(u) for u in urls[:VICTIM]]) < WRITERS:
                assert time.monotonic() - sigterm < 30, "clients did not all come back"
                await asyncio.sleep(0.2)
            await asyncio.sleep(BACK_WITHIN + 1)  # a late edit after the last close
        finally:
            stop.set()
            await asyncio.gather(*typing, return_exceptions=True)

        drained = [w for w in writers if any(when >= sigterm for when, _ in w.closes)]
        log = cluster.nodes[VICTIM].stderr_path.read_text()
        assert exit_code == 0, cluster.nodes[VICTIM].describe_logs()
        assert "drain: done" in log and "every save finished" in log, log[-2000:]
        assert len(drained) >= on_victim
        assert all(code == 1012 for w in writers for _, code in w.closes), [
            w.closes for w in drained
        ]
        never = [w.name for w in drained if len(w.back) < len(w.closes)]
        assert never == [], "drained writers that never saved again"
        gaps = [b - when for w in drained for (when, _), b in zip(w.closes, w.back, strict=True)]
        print(
            f"\n{len(drained)} drained (node had {on_victim}); it exited {exit_code} after "
            f"{stopped_in:.1f} s; saving again after {min(gaps):.2f}-{max(gaps):.2f} s;"
            f" {sum(w.bounces for w in writers)} bounced off it,"
            f" {sum(w.failed_opens for w in writers)} failed opens"
        )
        assert max(gaps) < BACK_WITHIN, sorted(gaps)
        assert sum(len(w.acked) for w in writers) > acked_before + WRITERS

        lost = []
        for w in writers:
            await w.client.close()
            r = await http.get(
                f"/api/documents/doc-{w.name}/content",
                headers={"Authorization": f"Bearer {w.token}"},
            )
            text = r.json()["text"]
            lost += [m for m in w.acked if m not in text]
        assert lost == []

"""Rebalancing after scale-out: a node well above its fair share sends some clients away.

WebSockets live for hours, so a node added by the autoscaler gets only new clients
while the old nodes stay hot. Every node publishes its connection count to Redis
(``draftroom:load:<node>``, with a TTL, so a dead node drops out by itself) and reads
everyone's. A node more than ``TOLERANCE`` above the mean, by at least ``MIN_EXCESS``
sockets, closes a bounded, random part of its excess with 1012 (service restart):
y-websocket reconnects on it after ~100 ms, and the load balancer (``leastconn``)
sends the client to the emptiest node. Each node sheds only half its excess per
round, at jittered times, so nodes shedding at once do not overshoot; rounds stop by
themselves once the cluster is even.

Two promises:

- no unacknowledged edit is dropped: a socket is closed only when every update it
  sent has been saved and acknowledged (``acked_upto == updates_received``), checked
  and closed in the same step of the loop, so nothing can arrive in between;
- a writer is not moved twice in a row: moved users are remembered in Redis
  (``draftroom:moved:<user>``, ``REMEMBER_SECONDS``), and no node moves them again
  until that expires. Sockets without a user (anonymous development) are never moved.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from draftroom.crdt.protocol import CloseCode
from draftroom.features import BaseFeature
from draftroom.redis import RedisLink

if TYPE_CHECKING:
    from draftroom.node import Node

log = logging.getLogger(__name__)

LOAD_KEY = "draftroom:load:"
MOVED_KEY = "draftroom:moved:"
# Above the mean by this share (and by MIN_EXCESS sockets) before anyone is moved.
TOLERANCE = 0.1
MIN_EXCESS = 2
# Of the excess, the share moved per round; and the most per round, as a share of
# the node's sockets (a reconnect storm is itself load).
STEP_SHARE = 0.5
MAX_ROUND_SHARE = 0.05
REMEMBER_SECONDS = 120
# Every --allow-anonymous client shares this id: there is no one to remember, so
# such sockets are never moved (remembering the id would stop all rebalancing).
ANONYMOUS_ID = "anonymous"


class Rebalancer(BaseFeature):
    def __init__(self, node: Node, redis: RedisLink, every_seconds: float) -> None:
        """``redis``: the node's request-path link (shared; its owner closes it)."""
        self.node = node
        self.every = every_seconds
        self.redis = redis
        self.rng = random.Random()
        self.moved = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="rebalance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.redis.run("delete", LOAD_KEY + self.node.node_id)
        except RedisError:
            pass

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every * self.rng.uniform(0.8, 1.2))
            if self.node.draining:
                continue
            try:
                await self.round()
            except RedisError:
                pass  # RedisLink logged it; the next round tries again
            except Exception:
                log.exception("rebalancing round failed")

    async def round(self) -> int:
        """Publish our count, read everyone's, move some clients if we are well above
        the mean. Returns how many were moved."""
        mine = len(self.node.connections)
        ttl = max(5, math.ceil(3 * self.every))
        await self.redis.run("set", LOAD_KEY + self.node.node_id, mine, ttl)  # ex=ttl
        counts = await self._counts()
        if len(counts) < 2:
            return 0
        fair = sum(counts) / len(counts)
        excess = mine - fair
        if excess < MIN_EXCESS or mine <= fair * (1 + TOLERANCE):
            return 0
        quota = min(math.ceil(excess * STEP_SHARE), max(1, int(mine * MAX_ROUND_SHARE)))
        candidates = [
            c for c in self.node.connections if not c.closed and c.user and c.user != ANONYMOUS_ID
        ]
        self.rng.shuffle(candidates)
        candidates = candidates[: 4 * quota]
        if not candidates:
            return 0
        recent = await self.redis.run("mget", *(MOVED_KEY + str(c.user) for c in candidates))
        moved: list[str] = []
        for conn, seen in zip(candidates, recent, strict=True):
            if len(moved) >= quota:
                break
            # Checked and closed in one step: no frame of its can be read in between.
            if seen is None and not conn.closed and conn.acked_upto >= conn.updates_received:
                conn.close(CloseCode.RESTARTING, "rebalancing: reconnect to a less busy server")
                moved.append(str(conn.user))
        if moved:
            self.moved += len(moved)
            for user in moved:
                await self.redis.run("set", MOVED_KEY + user, 1, REMEMBER_SECONDS)
            log.info(
                "rebalance: %d sockets here, cluster mean %.1f over %d nodes; moved %d",
                mine, fair, len(counts), len(moved),
            )  # fmt: skip
        return len(moved)

    async def _counts(self) -> list[int]:
        assert self.redis.client is not None
        try:
            keys = [k async for k in self.redis.client.scan_iter(LOAD_KEY + "*", count=100)]
        except (RedisError, OSError) as exc:
            self.redis.failed(exc)
            raise RedisError(str(exc)) from None
        if not keys:
            return []
        values = await self.redis.run("mget", *keys)
        return [int(v) for v in values if v is not None]

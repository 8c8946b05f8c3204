"""How many sockets a user has open, across every node.

With Redis, each user has a sorted set whose members are open sockets
(``node:socket``), scored by a lease expiry that their node renews. A node that
dies stops renewing, so its sockets stop counting within ``LEASE_SECONDS``; no
count can leak. Without Redis, or while it is down, each node counts its own
sockets: the cap then holds per node, which is the most it can promise alone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from draftroom.redis import RedisLink

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
KEY = "draftroom:conns:"


class ConnectionCap:
    def __init__(
        self, redis: RedisLink, node_id: Callable[[], str], local_count: Callable[[str], int]
    ) -> None:
        self.redis = redis
        self.node_id = node_id
        self.local_count = local_count  # this node's open sockets of a user
        self.leases: dict[str, str] = {}  # member -> user, for this node's sockets
        self._ids = itertools.count()
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self, user: str, cap: int) -> str | None:
        """A lease for one more socket of ``user``, or None if that makes too many."""
        member = f"{self.node_id()}:{next(self._ids)}"
        if self.redis.client is not None and self.redis.available:
            try:
                if not await self._acquire_shared(user, member, cap):
                    return None
                self.leases[member] = user
                return member
            except RedisError:
                pass  # fall through: counted on this node only
        if self.local_count(user) >= cap:
            return None
        self.leases[member] = user
        return member

    async def _acquire_shared(self, user: str, member: str, cap: int) -> bool:
        assert self.redis.client is not None
        key = KEY + user
        now = time.time()
        try:
            async with self.redis.client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, {member: now + LEASE_SECONDS})
                pipe.zcard(key)
                pipe.expire(key, int(LEASE_SECONDS) * 2)
                _, _, count, _ = await pipe.execute()
            if count > cap:
                await self.redis.run("zrem", key, member)
                return False
            return True
        except (RedisError, OSError) as exc:
            self.redis.failed(exc)
            raise RedisError(str(exc)) from None

    async def release(self, member: str | None) -> None:
        if member is None:
            return
        user = self.leases.pop(member, None)
        if user is None or self.redis.client is None:
            return
        try:
            await self.redis.run("zrem", KEY + user, member)
        except RedisError:
            pass  # the lease lapses by itself

    def start(self) -> None:
        if self.redis.client is not None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            if not self.leases or self.redis.client is None or not self.redis.available:
                continue
            until = time.time() + LEASE_SECONDS
            try:
                async with self.redis.client.pipeline(transaction=False) as pipe:
                    for member, user in list(self.leases.items()):
                        pipe.zadd(KEY + user, {member: until})
                        pipe.expire(KEY + user, int(LEASE_SECONDS) * 2)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self.redis.failed(exc)

"""Cache entries in Redis: one string per reply, with a TTL on every key.

Every key expiring matters twice: entries do not outlive their usefulness, and a
Redis shared with sessions can run ``maxmemory-policy volatile-lru``, evicting only
cache entries under memory pressure (see docs/AGENTS.md).

Calls fail fast: the short socket timeouts and no client-side retries of the node's
``draftroom.redis.RedisLink``, and an overall deadline per call. The link's circuit
breaker, shared with every other request-path Redis user, decides what happens next
(tiered.py).
"""

from __future__ import annotations

import asyncio

from draftroom.agents.cache.keys import EntryKey, redis_pattern
from draftroom.redis import RedisLink

CLAIM_PREFIX = "draftroom:agent-claim:"  # outside the entry pattern: never invalidated
# Extend or delete a claim only while it is still ours (it may have expired and been
# taken by another node meanwhile).
_IF_OURS_EXPIRE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"  # noqa: E501
_IF_OURS_DELETE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class RedisStore:
    def __init__(self, link: RedisLink, timeout: float) -> None:
        """``link``: the node's request-path link, which its owner closes."""
        if link.client is None:
            raise ValueError("RedisStore needs a RedisLink with a Redis URL")
        self.timeout = timeout
        self.link = link
        self.client = link.client

    async def get(self, key: EntryKey) -> bytes | None:
        value = await asyncio.wait_for(self.client.get(key.redis_key), self.timeout)
        return value if isinstance(value, bytes) else None

    async def set(self, key: EntryKey, value: bytes, ttl: float) -> None:
        await asyncio.wait_for(
            self.client.set(key.redis_key, value, px=max(int(ttl * 1000), 1)), self.timeout
        )

    # -- claims: which node computes a reply (cross-node single-flight) -------------

    async def claim(self, key: EntryKey, owner: str, lease: float) -> bool:
        ok = await asyncio.wait_for(
            self.client.set(CLAIM_PREFIX + key.digest, owner, nx=True, px=int(lease * 1000)),
            self.timeout,
        )
        return bool(ok)

    async def claimed(self, key: EntryKey) -> bool:
        return bool(
            await asyncio.wait_for(self.client.exists(CLAIM_PREFIX + key.digest), self.timeout)
        )

    async def renew(self, key: EntryKey, owner: str, lease: float) -> None:
        script = self.client.eval(
            _IF_OURS_EXPIRE, 1, CLAIM_PREFIX + key.digest, owner, int(lease * 1000)
        )
        await asyncio.wait_for(script, self.timeout)  # type: ignore[arg-type]

    async def release(self, key: EntryKey, owner: str) -> None:
        script = self.client.eval(_IF_OURS_DELETE, 1, CLAIM_PREFIX + key.digest, owner)
        await asyncio.wait_for(script, self.timeout)  # type: ignore[arg-type]

    async def ping(self) -> None:
        await asyncio.wait_for(self.client.ping(), self.timeout)

    async def invalidate(self, agent: str | None, doc_id: str | None) -> int:
        """Delete matching entries. SCAN walks the keyspace in steps (it never blocks
        Redis the way KEYS would); an operator action, so its cost is acceptable."""
        removed = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=redis_pattern(agent, doc_id), count=1000):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(await self.client.unlink(*batch))
                batch = []
        if batch:
            removed += int(await self.client.unlink(*batch))
        return removed

"""The reply cache the service uses: where entries live, and what happens when Redis
fails.

With Redis configured, entries live in Redis. Each Redis call is guarded by the circuit
breaker of the node's Redis link, which sessions, rate limits and connection leases
share: an error or timeout anywhere trips it, and then reads and writes go to the
database table for a cooldown, after which one call probes Redis again. No
agent request fails because of the cache: a cache that cannot answer is a miss.
Without Redis (embedded setup), a bounded in-memory LRU is the cache.

Entries larger than ``max_entry_bytes`` are not cached at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from draftroom.agents.cache import codec
from draftroom.agents.cache.db_store import DatabaseStore
from draftroom.agents.cache.keys import EntryKey
from draftroom.agents.cache.memory import MemoryCache
from draftroom.agents.cache.redis_store import RedisStore
from draftroom.redis import CircuitBreaker

log = logging.getLogger(__name__)

MEMORY_MAX_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    skipped_too_large: int = 0
    redis_errors: int = 0
    fallback_reads: int = 0
    fallback_writes: int = 0

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


class ReplyCache:
    def __init__(
        self,
        *,
        redis: RedisStore | None,
        database: DatabaseStore | None,
        memory_entries: int,
        max_entry_bytes: int,
    ) -> None:
        self.redis = redis
        self.database = database
        # Without Redis nothing trips it: it only keeps ``status`` uniform.
        self.breaker = redis.link.breaker if redis is not None else CircuitBreaker(1.0)
        self.memory = MemoryCache(memory_entries, MEMORY_MAX_BYTES) if redis is None else None
        self.max_entry_bytes = max_entry_bytes
        self.stats = CacheStats()

    @property
    def backend(self) -> str:
        if self.memory is not None:
            return "memory"
        return "redis" if self.breaker.state == "closed" else "database"

    def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "breaker": self.breaker.state, **self.stats.to_json()}

    # -- reads and writes -----------------------------------------------------------

    async def get(self, key: EntryKey) -> list[dict[str, Any]] | None:
        blob = await self._get(key)
        chunks = codec.decode(blob) if blob is not None else None
        if chunks is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return chunks

    async def peek(self, key: EntryKey) -> list[dict[str, Any]] | None:
        """``get`` without counting a hit or a miss (waiting on another node)."""
        blob = await self._get(key)
        return codec.decode(blob) if blob is not None else None

    async def put(self, key: EntryKey, chunks: list[dict[str, Any]], ttl: float) -> bool:
        """Store a finished reply; False when it was not cached (too large, TTL 0)."""
        if ttl <= 0:
            return False
        blob = codec.encode(chunks)
        if len(blob) > self.max_entry_bytes:
            self.stats.skipped_too_large += 1
            return False
        self.stats.writes += 1
        await self._set(key, blob, ttl)
        return True

    async def _get(self, key: EntryKey) -> bytes | None:
        if self.memory is not None:
            return self.memory.get(key)
        if self.redis is not None and self.breaker.allow():
            try:
                value = await self.redis.get(key)
            except Exception as exc:
                self._redis_failed("read", exc)
            else:
                self.redis.link.succeeded()
                return value
        return await self._fallback_get(key)

    async def _set(self, key: EntryKey, blob: bytes, ttl: float) -> None:
        if self.memory is not None:
            self.memory.set(key, blob, ttl)
            return
        if self.redis is not None and self.breaker.allow():
            try:
                await self.redis.set(key, blob, ttl)
            except Exception as exc:
                self._redis_failed("write", exc)
            else:
                self.redis.link.succeeded()
                return
        await self._fallback_set(key, blob, ttl)

    def _redis_failed(self, what: str, exc: Exception) -> None:
        self.stats.redis_errors += 1
        assert self.redis is not None
        # Through the link, so sessions also learn Redis failed (they distrust it for a
        # while after an outage); it logs once per outage.
        self.redis.link.failed(RuntimeError(f"agent cache {what}: {type(exc).__name__}: {exc}"))

    async def _fallback_get(self, key: EntryKey) -> bytes | None:
        if self.database is None:
            return None
        self.stats.fallback_reads += 1
        try:
            return await self.database.get(key)
        except Exception:
            log.exception("agent cache: database fallback read failed")
            return None

    async def _fallback_set(self, key: EntryKey, blob: bytes, ttl: float) -> None:
        if self.database is None:
            return
        self.stats.fallback_writes += 1
        try:
            await self.database.set(key, blob, ttl)
        except Exception:
            log.exception("agent cache: database fallback write failed")

    # -- claims: one computation per reply across nodes -------------------------------
    # Only while Redis is healthy: without it each node computes for itself, as a
    # single node does, and a claim never costs a request more than one timeout.

    async def claim(self, key: EntryKey, owner: str, lease: float) -> bool:
        """False when another node is computing this reply; True to compute it here."""
        if self.redis is None or self.breaker.state != "closed":
            return True
        try:
            return await self.redis.claim(key, owner, lease)
        except Exception as exc:
            self._redis_failed("claim", exc)
            return True

    async def claimed(self, key: EntryKey) -> bool:
        """Whether some node is computing this reply (False when unsure)."""
        if self.redis is None or self.breaker.state != "closed":
            return False
        try:
            return await self.redis.claimed(key)
        except Exception as exc:
            self._redis_failed("claim check", exc)
            return False

    async def renew(self, key: EntryKey, owner: str, lease: float) -> None:
        if self.redis is not None:
            try:
                await self.redis.renew(key, owner, lease)
            except Exception as exc:  # the claim lapses; at worst another node computes
                log.debug("renewing an agent claim failed: %s", exc)

    async def release(self, key: EntryKey, owner: str) -> None:
        if self.redis is not None:
            try:
                await self.redis.release(key, owner)
            except Exception as exc:  # it expires with its lease
                log.debug("releasing an agent claim failed: %s", exc)

    # -- operators ------------------------------------------------------------------

    def invalidate_local(self, agent: str | None, doc_id: str | None) -> int:
        """This node's in-memory entries (every node runs this on invalidation)."""
        return self.memory.invalidate(agent, doc_id) if self.memory is not None else 0

    async def invalidate_shared(self, agent: str | None, doc_id: str | None) -> int:
        """Entries in Redis and the database table. Raises if Redis is unreachable:
        an operator must know the invalidation did not take effect there."""
        removed = 0
        if self.database is not None:
            removed += await self.database.invalidate(agent, doc_id)
        if self.redis is not None:
            removed += await self.redis.invalidate(agent, doc_id)
        return removed

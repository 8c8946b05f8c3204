"""The auth features' Redis connection, with a short circuit breaker.

Redis is a cache for auth, never the authority: every caller has a database
fallback. So a failing Redis must fail *fast*: short timeouts, no retries, and
after an error we skip Redis for a moment instead of paying a connect timeout on
every login and every socket.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BREAKER_SECONDS = 1.0


class RedisLink:
    def __init__(self, url: str | None) -> None:
        self.client: aioredis.Redis | None = None
        if url:
            self.client = aioredis.Redis.from_url(
                url,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
                retry=Retry(NoBackoff(), 0),
            )
        self._down_until = 0.0
        # When Redis last failed: a Redis that comes back may hold entries that a
        # delete missed while it was away, so callers re-check the database for a while.
        self.last_failure = 0.0

    @property
    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("auth: Redis unavailable (%s); using the database", exc)
        self._down_until = time.monotonic() + BREAKER_SECONDS
        self.last_failure = time.monotonic()

    async def run(self, method: str, *args: Any) -> Any:
        """Call a Redis command; raise RedisError when Redis is (recently) down."""
        if self.client is None:
            raise RedisError("no Redis configured")
        if not self.available:
            raise RedisError("Redis marked down")
        try:
            return await getattr(self.client, method)(*args)
        except (RedisError, OSError) as exc:
            self.failed(exc)
            raise RedisError(str(exc)) from None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

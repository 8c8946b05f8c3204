"""Rate limits: fixed windows shared through Redis when configured, in memory otherwise.

``Limiter.hit(key, limit, window)`` counts one event and returns None when under the
limit, else the seconds until the window resets (for Retry-After). Fixed windows
are one INCR per event in Redis and good enough for abuse control; a client can at
worst get 2x the limit across a window boundary.

If Redis fails the limiter falls back to this node's memory rather than failing
open or locking everyone out.

``TokenBucket`` is the per-connection / per-user message throttle on the WebSocket
hot path, always in memory (a Redis round trip per keystroke would cost more than
the edit).
"""

from __future__ import annotations

import math
import time

from redis.exceptions import RedisError

from draftroom.redis import RedisLink

KEY = "draftroom:rl:"
MAX_MEMORY_KEYS = 100_000


class Limiter:
    def __init__(self, redis: RedisLink) -> None:
        self.redis = redis
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window number, count)

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        if limit <= 0:
            return None
        now = time.time()
        number = int(now // window)
        retry_after = (number + 1) * window - now
        if self.redis.available:
            try:
                redis_key = f"{KEY}{key}:{number}"
                count = await self.redis.run("incr", redis_key)
                if count == 1:
                    await self.redis.run("expire", redis_key, math.ceil(window) + 1)
                return None if count <= limit else retry_after
            except RedisError:
                pass
        return None if self._hit_memory(key, number) <= limit else retry_after

    async def over(self, key: str, limit: int, window: float) -> float | None:
        """Like ``hit`` without counting: is ``key`` already past ``limit``?"""
        if limit <= 0:
            return None
        now = time.time()
        number = int(now // window)
        retry_after = (number + 1) * window - now
        count = 0
        if self.redis.available:
            try:
                count = int(await self.redis.run("get", f"{KEY}{key}:{number}") or 0)
            except RedisError:
                count = self._count_memory(key, number)
        else:
            count = self._count_memory(key, number)
        return None if count < limit else retry_after

    def _count_memory(self, key: str, number: int) -> int:
        seen, count = self._windows.get(key, (number, 0))
        return count if seen == number else 0

    def _hit_memory(self, key: str, number: int) -> int:
        seen, count = self._windows.get(key, (number, 0))
        count = count + 1 if seen == number else 1
        if len(self._windows) >= MAX_MEMORY_KEYS and key not in self._windows:
            # Bounded memory under a flood of distinct keys (e.g. spoofed usernames):
            # drop windows that have ended.
            self._windows = {k: v for k, v in self._windows.items() if v[0] == number}
        self._windows[key] = (number, count)
        return count


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, amount: float = 1.0) -> float:
        """Take ``amount``; return 0, or the seconds to wait until it would have been there."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        if self.tokens >= 0 or self.rate <= 0:
            return 0.0
        return -self.tokens / self.rate

"""Rate limits: a sliding allowance shared through Redis when configured, in memory otherwise.

``Limiter.hit(key, limit, window)`` counts one event and returns None when allowed,
else the seconds until one more would be (for Retry-After). ``limit`` events may come
at once; after that one more every ``window / limit`` seconds. This is GCRA (the
generic cell rate algorithm): a key keeps one number, the time its allowance is used
up to, so it is one small atomic script in Redis and one float in memory.

Fixed windows (an INCR per window) were simpler, but a client could spend the limit at
the end of one window and again at the start of the next: 2x the limit in a moment,
which is the guesser's best case, and a test saw its fourth attempt pass when it
happened to straddle a minute.

If Redis fails the limiter falls back to this node's memory rather than failing
open or locking everyone out.

``TokenBucket`` is the per-connection / per-user message throttle on the WebSocket
hot path, always in memory (a Redis round trip per keystroke would cost more than
the edit).
"""

from __future__ import annotations

import time

from redis.exceptions import RedisError

from draftroom.redis import RedisLink

KEY = "draftroom:gcra:"
MAX_MEMORY_KEYS = 100_000

# KEYS[1]: the key. ARGV: now, interval and window in ms (fractions kept: an interval
# rounded down would let more than ``limit`` through at once), and 1 to count or 0 to
# only ask. Returns "0" when allowed, else the ms until it would be (a string: Redis
# would truncate a Lua number to an integer; and %.17g, as tostring's 14 digits of an
# epoch in ms would round every interval to 0.1 ms). The node's clock is used
# (nodes are NTP-synced; a few ms of skew moves an allowance by as much), which keeps
# the script free of TIME and the arithmetic the same as the memory path's.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + interval - window - now
if wait > 1 then return string.format('%.17g', wait) end
if ARGV[4] == '1' then
  local used = tat + interval
  local ttl = math.ceil(used - now) + 1000
  redis.call('SET', KEYS[1], string.format('%.17g', used), 'PX', ttl)
end
return '0'
"""


# A millisecond of slack (in both paths): ``limit`` intervals of window / limit add up
# to the window only give or take rounding, and an epoch in ms has ~0.2 us steps, so
# thousands of additions drift by a fraction of a ms. That must not refuse the
# limit-th event.
_SLACK = 1e-3


class Limiter:
    def __init__(self, redis: RedisLink) -> None:
        self.redis = redis
        self._tat: dict[str, float] = {}  # key -> when its allowance is used up to (s)

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        return await self._gcra(key, limit, window, count=True)

    async def over(self, key: str, limit: int, window: float) -> float | None:
        """Like ``hit`` without counting: would one more event be refused?"""
        return await self._gcra(key, limit, window, count=False)

    async def _gcra(self, key: str, limit: int, window: float, count: bool) -> float | None:
        if limit <= 0:
            return None
        now = time.time()
        interval = window / limit
        if self.redis.available:
            try:
                wait_ms = await self.redis.run(
                    "eval", _GCRA, 1, KEY + key,
                    repr(now * 1000), repr(interval * 1000), repr(window * 1000), int(count),
                )  # fmt: skip
                wait = float(wait_ms) / 1000
                return None if wait <= 0 else wait
            except RedisError:
                pass
        return self._gcra_memory(key, now, interval, window, count)

    def _gcra_memory(
        self, key: str, now: float, interval: float, window: float, count: bool
    ) -> float | None:
        tat = max(self._tat.get(key, now), now)
        wait = tat + interval - window - now
        if wait > _SLACK:
            return wait
        if count:
            if len(self._tat) >= MAX_MEMORY_KEYS and key not in self._tat:
                # Bounded memory under a flood of distinct keys (e.g. spoofed usernames):
                # drop allowances that have been given back in full.
                self._tat = {k: v for k, v in self._tat.items() if v > now}
            self._tat[key] = tat + interval
        return None


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

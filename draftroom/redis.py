"""One way for request-path code to reach Redis: fail fast, then stay away a while.

Sessions, rate limits, connection leases and the agent reply cache all use Redis as
a cache or a shared counter, never as the authority: each has a database or in-memory
fallback. So a failing Redis must fail *fast* (short timeouts, no client retries), and
after a failure callers skip it for a cooldown instead of paying a timeout on every
login, socket and agent request. ``RedisLink`` is that client plus its ``CircuitBreaker``.

The bus is not a user: it keeps its own hiredis subscriber (bus/subscriber.py), whose
reconnect loop is its own fallback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class CircuitBreaker:
    """After failures, stop calling a dependency for a cooldown.

    closed -> (``threshold`` consecutive failures) -> open -> (cooldown passes) -> one
    probe call allowed (half-open) -> success closes, failure re-opens for another
    cooldown. While open, callers skip the dependency at once instead of waiting for
    each call to time out.
    """

    def __init__(
        self,
        cooldown: float,
        threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown = cooldown
        self.threshold = threshold
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        self.trips = 0  # times it opened, for status and tests

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing else "open"

    def ready(self) -> bool:
        """Whether a call may be tried now, without claiming the half-open probe."""
        if self.opened_at is None:
            return True
        return not self.probing and self.clock() >= self.opened_at + self.cooldown

    def allow(self) -> bool:
        """``ready()``, and a caller let through after the cooldown is the one probe."""
        if not self.ready():
            return False
        if self.opened_at is not None:
            self.probing = True
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            if self.opened_at is None:
                self.trips += 1
            self.opened_at = self.clock()
            self.probing = False


class RedisLink:
    """A Redis client with fail-fast settings and a breaker; ``client`` is None when
    no Redis is configured.

    ``max_connections`` None keeps redis-py's growing pool; a number makes a blocking
    pool, where a burst waits (up to ``timeout``) for a free connection instead of
    failing with "too many connections" while Redis itself is fine.
    """

    def __init__(
        self,
        url: str | None,
        *,
        timeout: float = 0.5,
        breaker: CircuitBreaker | None = None,
        max_connections: int | None = None,
        name: str = "redis",
    ) -> None:
        self.timeout = timeout
        # One failure is enough to stay away for a second: the fallbacks are cheap.
        self.breaker = breaker or CircuitBreaker(cooldown=1.0, threshold=1)
        self.name = name
        # When Redis last failed: a Redis that comes back may hold entries that a
        # delete missed while it was away, so callers re-check the database for a while.
        self.last_failure = 0.0
        self.client: aioredis.Redis | None = None
        if not url:
            return
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        if max_connections is None:
            self.client = aioredis.Redis.from_url(url, **options)
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout,
                retry_on_timeout=False,
                health_check_interval=0,
                **options,
            )
            self.client = aioredis.Redis(connection_pool=pool)

    @property
    def available(self) -> bool:
        """Configured, and not within a cooldown after a failure."""
        return self.client is not None and self.breaker.ready()

    def failed(self, exc: BaseException) -> None:
        if self.breaker.ready():  # once per outage, not once per call in its cooldown
            log.warning("%s: Redis unavailable (%s); using the fallback", self.name, exc)
        self.breaker.failure()
        self.last_failure = time.monotonic()

    def succeeded(self) -> None:
        if self.breaker.opened_at is not None:
            self.breaker.success()

    async def run(self, method: str, *args: Any) -> Any:
        """Call a Redis command; raise RedisError when Redis is (recently) down."""
        if self.client is None:
            raise RedisError("no Redis configured")
        if not self.available:
            raise RedisError("Redis marked down")
        try:
            # The socket timeouts bound the call; no wait_for task per command.
            result = await getattr(self.client, method)(*args)
        except (RedisError, OSError) as exc:
            self.failed(exc)
            raise RedisError(str(exc)) from None
        self.succeeded()
        return result

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

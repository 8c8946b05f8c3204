"""draftroom/redis.py: the one fail-fast Redis client for request-path code, and its
circuit breaker, against a real Redis and a port where nothing listens."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from redis.exceptions import RedisError

from draftroom.redis import CircuitBreaker, RedisLink


async def test_commands_run_against_a_real_redis(redis_url: str) -> None:
    for link in (RedisLink(redis_url), RedisLink(redis_url, max_connections=4)):
        try:
            await link.run("set", "draftroom:test:link", "1", 30)
            assert await link.run("get", "draftroom:test:link") == b"1"
            assert link.available and link.last_failure == 0.0
        finally:
            await link.close()


async def test_a_dead_redis_fails_fast_then_is_skipped_until_the_cooldown(
    free_port: Callable[[], int],
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(cooldown=5.0, threshold=1, clock=lambda: now[0])
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5, breaker=breaker)
    try:
        started = time.monotonic()
        with pytest.raises(RedisError):
            await link.run("get", "k")
        assert time.monotonic() - started < 2, "no retries, short timeouts"
        assert not link.available and link.last_failure > 0 and breaker.trips == 1
        with pytest.raises(RedisError, match="marked down"):
            await link.run("get", "k")  # skipped: no connection attempt in the cooldown
        now[0] = 5.0
        assert link.available, "after the cooldown, callers try again"
    finally:
        await link.close()


def test_no_url_means_no_redis() -> None:
    link = RedisLink(None)
    assert link.client is None and not link.available


def test_the_breaker_lets_one_probe_through_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(cooldown=1.0, threshold=2, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.ready() and not breaker.allow()
    now[0] = 1.0
    assert breaker.ready(), "ready() only looks"
    assert breaker.allow() and breaker.state == "half-open"
    assert not breaker.allow(), "one probe at a time"
    breaker.success()
    assert breaker.state == "closed" and breaker.trips == 1

"""The request limiter (login attempts, API calls): at most ``limit`` at once, then one
more per ``window / limit``, whatever the wall clock's minute says; the same answers from
real Redis (shared by nodes) and from a node's memory (its fallback)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from draftroom.auth import ratelimit
from draftroom.auth.ratelimit import Limiter
from draftroom.redis import RedisLink

# Just before a minute turns: a limiter of fixed minutes starts a fresh count 0.1 s in.
MINUTE_END = 1_800_000_000 - 0.1


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture(params=["redis", "memory"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    link = RedisLink(url)
    try:
        yield Limiter(link)
    finally:
        if link.client is not None:
            await link.client.aclose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(MINUTE_END)
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=c.time))
    return c


async def _hits(limiter: Limiter, clock: Clock, offsets: list[float]) -> list[bool]:
    allowed = []
    for offset in offsets:
        clock.now = MINUTE_END + offset
        allowed.append(await limiter.hit("login:ip:203.0.113.9", 3, 60) is None)
    return allowed


async def test_a_burst_across_the_minute_is_still_the_limit(limiter: Limiter, clock: Clock) -> None:
    assert await _hits(limiter, clock, [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]) == [
        True, True, True, False, False, False,
    ]  # fmt: skip


async def test_then_one_more_per_interval(limiter: Limiter, clock: Clock) -> None:
    assert await _hits(limiter, clock, [0, 0, 0, 19.9, 20.0, 20.1, 39.9, 40.0]) == [
        True, True, True, False, True, False, False, True,
    ]  # fmt: skip


async def test_retry_after_is_when_one_more_is_allowed(limiter: Limiter, clock: Clock) -> None:
    await _hits(limiter, clock, [0, 0, 0])
    clock.now = MINUTE_END + 5
    wait = await limiter.hit("login:ip:203.0.113.9", 3, 60)
    assert wait is not None and wait == pytest.approx(15, abs=0.01)
    clock.now += wait
    assert await limiter.hit("login:ip:203.0.113.9", 3, 60) is None


async def test_asking_does_not_count(limiter: Limiter, clock: Clock) -> None:
    key = "login:fail:203.0.113.9:ann"
    for _ in range(10):
        assert await limiter.over(key, 2, 60) is None
    assert await limiter.hit(key, 2, 60) is None
    assert await limiter.over(key, 2, 60) is None
    assert await limiter.hit(key, 2, 60) is None
    assert await limiter.over(key, 2, 60) == pytest.approx(30, abs=0.01)


async def test_keys_and_a_zero_limit_are_independent(limiter: Limiter, clock: Clock) -> None:
    for _ in range(3):
        assert await limiter.hit("api:user:1", 3, 60) is None
    assert await limiter.hit("api:user:1", 3, 60) is not None
    assert await limiter.hit("api:user:2", 3, 60) is None
    assert all([await limiter.hit("api:user:1", 0, 60) is None for _ in range(5)])


async def test_a_limit_with_an_uneven_interval_lets_exactly_the_limit_through(
    limiter: Limiter, clock: Clock
) -> None:
    # 60,000 ms / 7,000 is not a whole number of ms: rounding it down would let 7,500 by.
    allowed = 0
    for _ in range(7_010):
        allowed += await limiter.hit("api:ip:203.0.113.9", 7_000, 60) is None
    assert allowed == 7_000

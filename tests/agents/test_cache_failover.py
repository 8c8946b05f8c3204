"""The cache under stress: Redis stopped mid-run and back, a memory cap under a flood,
and the embedded LRU's bound."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.inprocess import make_settings, running_server
from devtools.redis import RedisServer
from devtools.waiting import eventually
from draftroom.agents.base import ANONYMOUS, AgentContext
from draftroom.agents.cache.keys import make_key
from draftroom.agents.cache.redis_store import RedisStore
from draftroom.agents.cache.tiered import ReplyCache
from draftroom.agents.service import AgentService
from draftroom.client import DraftroomClient
from draftroom.document.text import from_plain
from draftroom.redis import RedisLink

from .helpers import invoke


def noise(chars: int) -> str:
    """Text compression cannot shrink much (cache entries are compressed)."""
    return base64.b64encode(os.urandom(chars * 3 // 4)).decode()


def info(redis: RedisServer, section: str, field: str) -> int:
    text = redis.command("INFO", section)
    text = text.decode() if isinstance(text, bytes) else str(text)
    return int(text.split(f"{field}:")[1].split()[0])


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.mark.serial
async def test_redis_stopped_mid_run_falls_back_to_the_database_then_recovers(
    tmp_path: Path, postgres_url: str, redis_server: Any, http: httpx.AsyncClient
) -> None:
    if not isinstance(redis_server, RedisServer):
        pytest.skip("needs a Redis this test session started (it stops it)")
    if not redis_server.running:
        redis_server.start()
    settings = make_settings(
        tmp_path,
        postgres_url,
        redis_url=redis_server.url,
        redis_cooldown_seconds=0.5,
        agent_cache_redis_timeout_ms=200,
        agent_warm_window_seconds=0,  # hits and misses here come from requests alone
    )
    async with running_server(settings) as server:
        cache = server.hub.feature(AgentService).cache
        async with DraftroomClient(server.ws("doc")) as alice:
            await alice.wait_saved(alice.insert("A very unique first draft."))

            async def ask(agent: str = "style") -> str:
                response, events = await invoke(http, server.http, "doc", agent)
                assert response.status_code == 200, response.text
                assert events[-1]["type"] == "agent.done", events[-1]
                return str(response.headers["x-agent-cache"])

            assert await ask() == "miss"
            assert await ask() == "hit"
            assert cache.backend == "redis"

            redis_server.stop()
            try:
                # Every request still answers; the cache moves to the database table.
                states = [await ask("outline") for _ in range(3)]
                assert states == ["miss", "hit", "hit"]
                assert cache.backend == "database" and cache.breaker.trips >= 1
                assert cache.stats.fallback_writes >= 1
                rows = await server.hub.store.sql.fetch("SELECT agent FROM agent_cache")
                assert [r["agent"] for r in rows] == ["outline"]
                # An edit while Redis is down is still never answered stale.
                await alice.wait_saved(alice.insert(" More."))
                assert await ask("outline") == "miss"
                # Concurrent requests while down: none fails.
                results = await asyncio.gather(*(ask("readability") for _ in range(10)))
                assert set(results) <= {"miss", "joined", "hit"}
            finally:
                redis_server.start()
            # After the cooldown, one probe finds Redis back and the breaker closes.
            await asyncio.sleep(0.6)
            await eventually(lambda: redis_server.ping())
            assert await ask("readability") in ("miss", "hit")
            assert cache.backend == "redis" and cache.breaker.state == "closed"
            assert await ask("style") == "miss"  # Redis restarted empty (no persistence)
            assert await ask("style") == "hit"
            assert cache.stats.redis_errors >= 1


@pytest.mark.serial
async def test_memory_cap_is_honoured_under_a_flood_of_distinct_replies(tmp_path: Path) -> None:
    limit = 8 * 1024 * 1024
    redis = RedisServer(extra_args=["--maxmemory", str(limit), "--maxmemory-policy", "allkeys-lru"])
    redis.start()
    try:
        link = RedisLink(redis.url, timeout=2.0, max_connections=64)
        cache = ReplyCache(
            redis=RedisStore(link, 2.0),
            database=None,
            memory_entries=0,
            max_entry_bytes=64 * 1024,
        )
        document = from_plain("x")
        written = 0
        # ~40 MB of distinct 20 KB replies into an 8 MB Redis.
        for batch in range(40):
            keys = []
            for i in range(100):
                ctx = AgentContext("doc", document, {"n": batch * 100 + i}, ANONYMOUS)
                key = make_key(
                    agent="style",
                    version="1",
                    model="",
                    params=ctx.params,
                    context=f"text {batch} {i}",
                    doc_id=f"doc-{batch}",
                )
                keys.append(key)
            reply = [{"text": noise(20_000)}]  # stored compressed: noise stays ~15 KB
            await asyncio.gather(*(cache.put(k, reply, 3600) for k in keys))
            written += len(keys)
            used = info(redis, "memory", "used_memory")
            assert used <= limit * 1.02, f"used_memory {used} over the {limit} cap"
        assert cache.stats.redis_errors == 0, "writes must succeed (eviction, not OOM errors)"
        stored = int(redis.command("DBSIZE"))
        assert 0 < stored < written / 3  # most entries were evicted, as they must be
        evicted = info(redis, "stats", "evicted_keys")
        assert evicted > 0
        # An entry over the size cap is never stored.
        big = make_key(agent="style", version="1", model="", params={}, context="big", doc_id="d")
        assert await cache.put(big, [{"text": noise(100_000)}], 3600) is False
        assert await cache.get(big) is None and cache.stats.skipped_too_large == 1
        await link.close()
    finally:
        redis.stop()


async def test_embedded_cache_is_a_bounded_lru(tmp_path: Path, http: httpx.AsyncClient) -> None:
    # No warming: every entry here is a request's, so the count is exact.
    settings = make_settings(tmp_path, agent_cache_memory_entries=3, agent_warm_window_seconds=0)
    async with running_server(settings) as server:
        cache = server.hub.feature(AgentService).cache
        assert cache.backend == "memory"
        async with DraftroomClient(server.ws("doc")) as alice:
            for i in range(5):
                await alice.wait_saved(alice.insert(f" sentence {i}."))
                response, _ = await invoke(http, server.http, "doc", "outline")
                assert response.headers["x-agent-cache"] == "miss"
            assert cache.memory is not None and len(cache.memory) == 3
            response, _ = await invoke(http, server.http, "doc", "outline")
            assert response.headers["x-agent-cache"] == "hit"

"""The composition root builds one request-path Redis link per node: auth (sessions,
rate limits, connection leases), the agent cache and its claims, and the rebalancer
share its pool and its breaker, against a real Redis that the test stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from auth.helpers import add_user, auth_settings, login, password_of

from devtools.inprocess import make_settings, running_server
from devtools.redis import RedisServer
from draftroom.admission.rebalance import Rebalancer
from draftroom.agents.cache.keys import make_key
from draftroom.agents.service import AgentService
from draftroom.auth.service import Auth


async def test_every_feature_holds_the_same_link_and_pool(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url=redis_url, rebalance_seconds=5.0)
    async with running_server(settings) as server:
        node = server.hub
        auth = node.feature(Auth)
        link = auth.redis
        assert link.client is not None
        cache_store = node.feature(AgentService).cache.redis
        assert cache_store is not None
        users = [
            auth.sessions.redis,
            auth.limiter.redis,
            auth.connection_cap.redis,
            cache_store.link,
            node.feature(Rebalancer).redis,
        ]
        assert all(user is link for user in users)
        assert cache_store.client.connection_pool is link.client.connection_pool


async def test_a_failure_any_feature_sees_opens_the_breaker_for_all(
    tmp_path: Path, redis_server: Any
) -> None:
    if not isinstance(redis_server, RedisServer):
        pytest.skip("needs a Redis this test session started (it stops it)")
    if not redis_server.running:
        redis_server.start()
    settings = auth_settings(
        tmp_path, redis_url=redis_server.url, redis_cooldown_seconds=60.0, rebalance_seconds=0
    )
    async with running_server(settings) as server:
        node = server.hub
        auth = node.feature(Auth)
        cache = node.feature(AgentService).cache
        await add_user(node, "ann")
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
            await login(http, "ann")  # sessions and rate limits in Redis
            assert auth.redis.available and cache.backend == "redis"
            redis_server.stop()
            try:
                # The agent cache is the first to meet the dead Redis...
                key = make_key(
                    agent="style", version="1", model="", params={}, context="x", doc_id="d"
                )
                assert await cache.peek(key) is None
                assert cache.stats.redis_errors == 1 and cache.backend == "database"
                # ...and auth stays away too, and will distrust Redis once it is back
                # (a session deleted meanwhile may still be there).
                assert not auth.redis.available
                assert auth.redis.last_failure > 0
                assert auth.redis.breaker.trips == 1
                # Logins keep working on the fallbacks, and trip nothing again.
                response = await http.post(
                    "/api/sessions", json={"username": "ann", "password": password_of("ann")}
                )
                assert response.status_code == 201, response.text
                assert auth.redis.breaker.trips == 1 and cache.stats.redis_errors == 1
            finally:
                redis_server.start()

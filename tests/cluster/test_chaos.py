"""Two scenarios of loadtests/chaos.py in CI: a real cluster (PostgreSQL, Redis, two
node processes, HAProxy), writers recording acknowledged markers, a store audit.

The full suite (kill -9, Redis down and flushed, PostgreSQL stalled, SIGTERM during
a stall) runs from the command line; its results are in docs/OPERATIONS.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from loadtests import chaos


@pytest.fixture
def cluster(postgres_url: str) -> Iterator[chaos.Cluster]:
    # Its own Redis: the scenarios stop and hang it.
    started = chaos.Cluster(nodes=2, node_args=chaos.NODE_ARGS, postgres_url=postgres_url)
    started.start()
    try:
        yield started
    finally:
        started.stop()


async def _run(cluster: chaos.Cluster, name: str, fault: chaos.Fault) -> chaos.Result:
    _, plan = chaos.SCENARIOS[name]
    await asyncio.sleep(1.0)  # HAProxy sees both nodes healthy
    result = await asyncio.wait_for(chaos.run_scenario(cluster, name, fault, plan), 60)
    print(chaos.HEADER, result.row(), result.notes, sep="\n")
    return result


async def test_chaos_f1_compaction_race_converges(cluster: chaos.Cluster) -> None:
    result = await _run(cluster, "f1-compaction", chaos.f1_compaction)
    assert result.acked == chaos.COMPACT_AFTER
    assert result.lost == 0
    assert result.convergence_s is not None and result.convergence_s < chaos.CONVERGE_WITHIN
    assert result.ok, result


async def test_chaos_redis_hang_loses_nothing_and_recovers(cluster: chaos.Cluster) -> None:
    async def short_hang(run: chaos.Run) -> None:
        await chaos.redis_hung(run, seconds=5.0)

    result = await _run(cluster, "redis-hung", short_hang)
    assert result.acked > 100
    assert result.lost == 0
    assert result.ready_after_s is not None, "bus health never recovered"
    assert result.ok, result

"""Auth costs: password hashing, session lookups (Redis hit vs database fallback), throttle.

    .venv/bin/python bench/auth.py [--lookups 2000]

Starts its own throwaway redis-server and PostgreSQL (tests/services.py) on 127.0.0.1,
stops them by PID at the end, and prints a Markdown table. Lookups run one at a time
(latency, not throughput under concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from devtools.postgres import PostgresServer
from devtools.redis import RedisServer
from draftroom.auth.passwords import hash_password, verify_password
from draftroom.auth.ratelimit import TokenBucket
from draftroom.auth.sessions import Sessions
from draftroom.auth.users import Users
from draftroom.redis import RedisLink
from draftroom.store import create_store


def _row(name: str, samples: list[float]) -> str:
    samples.sort()
    p50 = statistics.median(samples) * 1e6
    p99 = samples[int(len(samples) * 0.99) - 1] * 1e6
    return f"| {name} | {len(samples)} | {p50:,.0f} | {p99:,.0f} |"


async def _lookups(sessions: Sessions, secret: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        assert await sessions.lookup(secret) is not None
        out.append(time.perf_counter() - t)
    return out


async def run(n: int, pg_url: str, redis_url: str) -> list[str]:
    rows = []
    t = time.perf_counter()
    hashed = await hash_password("correct horse battery")
    rows.append(_row("argon2id hash (1 call)", [time.perf_counter() - t]))
    verify = []
    for _ in range(10):
        t = time.perf_counter()
        await verify_password(hashed, "correct horse battery")
        verify.append(time.perf_counter() - t)
    rows.append(_row("argon2id verify (login)", verify))
    for label, url in (("sqlite", None), ("postgres", pg_url)):
        store = create_store(
            database_url=url, data_dir=Path(tempfile.mkdtemp()), commit_delay=0.002, max_batch=100
        )
        await store.open()
        user = await Users(store.sql).create(f"u{uuid.uuid4().hex[:8]}", "password-123")
        for redis_label, link in (
            ("Redis hit", RedisLink(redis_url)),
            ("no Redis", RedisLink(None)),
        ):
            sessions = Sessions(store.sql, link, 3600)
            secret, _ = await sessions.create(user)
            rows.append(
                _row(f"session lookup, {redis_label}, {label}", await _lookups(sessions, secret, n))
            )
            await link.close()
        await store.close()
    bucket = TokenBucket(1e9, 1e9)
    t = time.perf_counter()
    for _ in range(100_000):
        bucket.take(1)
    per_frame_ns = (time.perf_counter() - t) / 100_000 * 1e9
    rows.append(f"| throttle check per frame (avg, in ns) | 100000 | {per_frame_ns:.0f} ns | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    pg, redis = PostgresServer(), RedisServer()
    try:
        pg.start()
        redis.start()
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        rows = asyncio.run(run(args.lookups, url, redis.url))
    finally:
        redis.cleanup()
        pg.cleanup()
    print(f"auth costs, {time.strftime('%Y-%m-%d')}, nproc={__import__('os').cpu_count()}\n")
    print("| what | samples | p50 µs | p99 µs |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

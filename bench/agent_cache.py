"""Agent reply cache benchmark: hit ratio and latency with and without the cache, and
while Redis is down; plus each built-in agent on a 100,000-word document.

    .venv/bin/python bench/agent_cache.py                    # defaults below, ~2-3 min
    .venv/bin/python bench/agent_cache.py --requests 4000 --docs 200 --edit-rate 0.05

Starts its own Redis and two Draftroom servers (subprocesses, SQLite store, anonymous
access on 127.0.0.1), and a fake OpenAI-compatible endpoint (tests/agents/fake_openai.py)
whose replies take ``--llm-first-byte-ms`` plus a little per token, standing in for a
fast hosted model. Everything is stopped by PID at the end.

Workload (seeded, identical for every run): ``--docs`` documents of 300-3,000 words;
requests pick the document by Zipf (s=``--zipf``) and the query (agent + parameters)
by Zipf over a catalogue of common queries; before each request, with probability
``--edit-rate``, a writer appends a sentence to a Zipf-chosen document (edits land on
popular documents, as they do). ``--concurrency`` clients issue requests back to back.
Latency: POST sent to the last NDJSON line (agent.done) received. A hit is a request
the server answered from a stored reply (X-Agent-Cache: hit); one that followed an
identical computation already running ("joined") counts as a miss. The first
``--warmup`` requests fill the cache and are not measured: the numbers describe a
node in steady state, not one just started. The bench shares the machine's cores
with the server (and with the writers' clients), so it measures a loaded node.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import exit_status, machine_info, percentiles

from devtools.draftroom import DraftroomProcess
from devtools.fake_openai import fake_openai
from devtools.redis import RedisServer
from draftroom.client import DraftroomClient

QUERIES: list[tuple[str, dict[str, Any]]] = [  # most popular first
    ("style", {}),
    ("readability", {}),
    ("outline", {}),
    ("critique", {}),
    ("style", {"max_issues": 100}),
    ("brainstorm", {}),
    ("readability", {"per_paragraph": False}),
    ("brainstorm", {"topic": "the villain's motive"}),
]
WORDS = (
    "the a of and to in was he she it that his her with as for on at by had but not from "
    "they which be have this one all were we when there been their said more an so no if "
    "out up into do time very unique lantern harbour storm letter window morning silence "
    "remember quietly suddenly whisper river captain daughter promise garden stranger "
    "utilize literally moreover nevertheless shadow candle distant ancient trembling"
).split()


def zipf_sampler(n: int, s: float, rng: random.Random) -> Any:
    weights = [1 / (k + 1) ** s for k in range(n)]
    total = sum(weights)
    cumulative = []
    acc = 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    return lambda: min(bisect.bisect_left(cumulative, rng.random()), n - 1)


def prose(words: int, rng: random.Random) -> str:
    paragraphs = []
    left = words
    while left > 0:
        size = min(left, rng.randint(40, 140))
        sentences = []
        count = 0
        while count < size:
            n = rng.randint(6, 22)
            sentence = " ".join(rng.choice(WORDS) for _ in range(n))
            sentences.append(sentence.capitalize() + rng.choice(".....?!"))
            count += n
        paragraphs.append(" ".join(sentences))
        left -= count
    return "\n".join(paragraphs)


@dataclass
class Step:
    doc: int
    query: int
    edit_doc: int | None  # append a sentence to this document first


def workload(args: argparse.Namespace) -> tuple[list[str], list[Step]]:
    rng = random.Random(args.seed)
    texts = [prose(rng.randint(300, 3000), rng) for _ in range(args.docs)]
    pick_doc = zipf_sampler(args.docs, args.zipf, rng)
    pick_query = zipf_sampler(len(QUERIES), args.zipf, rng)
    steps = [
        Step(pick_doc(), pick_query(), pick_doc() if rng.random() < args.edit_rate else None)
        for _ in range(args.warmup + args.requests)
    ]
    return texts, steps


@dataclass
class Sample:
    latency: float
    source: str  # the X-Agent-Cache header: hit, joined (an identical computation), miss
    ok: bool
    query: int = 0

    @property
    def hit(self) -> bool:
        return self.source == "hit"


class Runner:
    def __init__(self, server: DraftroomProcess, texts: list[str]) -> None:
        self.server = server
        self.texts = texts
        self.writers: list[DraftroomClient] = []
        self.edit_locks: list[asyncio.Lock] = []

    async def seed(self) -> None:
        for i, text in enumerate(self.texts):
            client = DraftroomClient(self.server.ws_url(f"doc-{i}"), connect_timeout=30)
            await client.connect()
            await client.wait_saved(client.insert(text), within=30)
            self.writers.append(client)
            self.edit_locks.append(asyncio.Lock())

    async def close(self) -> None:
        await asyncio.gather(*(w.close() for w in self.writers))

    async def run(self, steps: list[Step], concurrency: int, measure_from: int) -> list[Sample]:
        samples: list[Sample] = []
        queue = list(enumerate(steps))[::-1]
        async with httpx.AsyncClient(timeout=120) as http:

            async def worker() -> None:
                while queue:
                    index, step = queue.pop()
                    if step.edit_doc is not None:
                        writer = self.writers[step.edit_doc]
                        async with self.edit_locks[step.edit_doc]:
                            await writer.wait_saved(writer.insert(f" Edit {index}."))
                    agent, params = QUERIES[step.query]
                    url = f"{self.server.http_url}/api/documents/doc-{step.doc}/agents/{agent}"
                    t0 = time.perf_counter()
                    response = await http.post(url, json={"params": params})
                    body = response.text
                    elapsed = time.perf_counter() - t0
                    ok = response.status_code == 200 and '"agent.done"' in body
                    if index >= measure_from:
                        source = response.headers.get("x-agent-cache", "")
                        samples.append(Sample(elapsed, source, ok, step.query))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return samples


def summary(samples: list[Sample]) -> dict[str, Any]:
    ms = [s.latency * 1000 for s in samples]
    hits = [s.latency * 1000 for s in samples if s.hit]
    misses = [s.latency * 1000 for s in samples if not s.hit]
    return {
        "requests": len(samples),
        "errors": sum(not s.ok for s in samples),
        "hit_ratio": round(sum(s.hit for s in samples) / max(len(samples), 1), 4),
        "joined_ratio": round(sum(s.source == "joined" for s in samples) / max(len(samples), 1), 4),
        "misses_by_query": {
            f"{QUERIES[q][0]} {json.dumps(QUERIES[q][1])}": sum(
                1 for s in samples if s.query == q and not s.hit
            )
            for q in range(len(QUERIES))
        },
        "all_ms": {k: round(v, 2) for k, v in percentiles(ms).items()},
        "hits_ms": {k: round(v, 2) for k, v in percentiles(hits).items()},
        "misses_ms": {k: round(v, 2) for k, v in percentiles(misses).items()},
    }


async def builtins_on_a_novel(server: DraftroomProcess, words: int, repeat: int) -> dict[str, Any]:
    text = prose(words, random.Random(7))
    client = DraftroomClient(server.ws_url("novel"), connect_timeout=60)
    await client.connect()
    await client.wait_saved(client.insert(text), within=60)
    out: dict[str, Any] = {"words": len(text.split())}
    async with httpx.AsyncClient(timeout=120) as http:
        for agent in ("style", "readability", "outline"):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                response = await http.post(
                    f"{server.http_url}/api/documents/novel/agents/{agent}", json={}
                )
                assert response.status_code == 200 and '"agent.done"' in response.text
                assert response.headers["x-agent-cache"] == "miss"
                times.append((time.perf_counter() - t0) * 1000)
            out[agent] = {"median_ms": round(statistics.median(times), 1),
                          "max_ms": round(max(times), 1)}  # fmt: skip
    await client.close()
    return out


async def novel_cached(server: DraftroomProcess, words: int) -> dict[str, Any]:
    """The style reply a novel gets, asked twice on the cached server: its size once
    stored (compressed) and how fast the second ask is answered."""
    text = prose(words, random.Random(7))
    client = DraftroomClient(server.ws_url("novel"), connect_timeout=60)
    await client.connect()
    await client.wait_saved(client.insert(text), within=60)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=120) as http:
        url = f"{server.http_url}/api/documents/novel/agents/style"
        for attempt in ("first", "second"):
            t0 = time.perf_counter()
            response = await http.post(url, json={})
            out[attempt] = {
                "ms": round((time.perf_counter() - t0) * 1000, 1),
                "source": response.headers.get("x-agent-cache"),
                "reply_bytes": len(response.content),
            }
    await client.close()
    return out


def start_server(redis_url: str | None, llm_url: str, ttl: float, tmp: str) -> DraftroomProcess:
    args = ["--allow-anonymous", "--llm-base-url", llm_url,
            "--agent-cache-ttl-seconds", str(ttl), "--log-level", "warning"]  # fmt: skip
    if redis_url:
        args += ["--redis-url", redis_url, "--redis-cooldown-seconds", "2"]
    server = DraftroomProcess(args, data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs")
    server.start()
    return server


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    texts, steps = workload(args)
    report: dict[str, Any] = {"machine": machine_info(), "params": vars(args)}
    redis = RedisServer(extra_args=["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"])
    servers: list[DraftroomProcess] = []
    async with fake_openai() as llm:
        llm.behaviour.first_byte_delay = args.llm_first_byte_ms / 1000
        llm.behaviour.chunk_delay = 0.002
        llm.behaviour.words = 40
        try:
            redis.start()
            # The same setup as the cached run (Redis bus included), only with TTL 0.
            uncached = start_server(redis.url, llm.base_url, 0, tempfile.mkdtemp(prefix="agb-u-"))
            servers.append(uncached)
            if args.novel_words:
                print("built-ins on a novel (uncached)...", file=sys.stderr)
                report["builtins_100k"] = await builtins_on_a_novel(uncached, args.novel_words, 3)

            print("uncached run...", file=sys.stderr)
            runner = Runner(uncached, texts)
            await runner.seed()
            report["uncached"] = summary(await runner.run(steps, args.concurrency, args.warmup))
            await runner.close()

            cached = start_server(redis.url, llm.base_url, 86400, tempfile.mkdtemp(prefix="agb-c-"))
            servers.append(cached)
            print("cached run...", file=sys.stderr)
            runner = Runner(cached, texts)
            await runner.seed()
            llm_calls = len(llm.requests)
            report["cached"] = summary(await runner.run(steps, args.concurrency, args.warmup))
            report["llm_calls_cached_run"] = len(llm.requests) - llm_calls
            if args.novel_words:
                report["novel_cached"] = await novel_cached(cached, args.novel_words)
            async with httpx.AsyncClient(timeout=30) as http:
                status = await http.get(f"{cached.http_url}/api/agents/cache")
                report["cache_status_cached_run"] = status.json()

            print("Redis down...", file=sys.stderr)
            redis.stop()
            down_steps = workload(argparse.Namespace(**{**vars(args), "seed": args.seed + 1}))[1]
            down_steps = down_steps[: args.down_requests]
            report["redis_down"] = summary(await runner.run(down_steps, args.concurrency, 0))
            redis.start()
            await runner.close()
        finally:
            for server in servers:
                server.cleanup()
            redis.cleanup()
    return report


def failures(report: dict[str, Any]) -> list[str]:
    """A run with an error, or one that sent no requests, does not count."""
    out = []
    for key in ("uncached", "cached", "redis_down"):
        s = report[key]
        if not s["requests"]:
            out.append(f"{key}: no requests were made")
        if s["errors"]:
            out.append(f"{key}: {s['errors']} of {s['requests']} requests failed")
    return out


def render(report: dict[str, Any]) -> str:
    u, c, d = report["uncached"], report["cached"], report["redis_down"]
    b = report.get("builtins_100k")
    m = report["machine"]
    faster = 1 - c["all_ms"]["p50"] / u["all_ms"]["p50"]
    lines = [
        f"Agent cache benchmark — {m['date']}, {m['nproc']} CPUs ({m['cpu_model']}), "
        f"Python {m['python']}",
        "",
        "| run | requests | errors | hit ratio | joined | p50 ms | p99 ms | hits p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in (("without cache", u), ("with cache (Redis)", c), ("Redis down (DB)", d)):
        lines.append(
            f"| {name} | {s['requests']} | {s['errors']} | {s['hit_ratio']:.1%} | "
            f"{s['joined_ratio']:.1%} | "
            f"{s['all_ms']['p50']:.1f} | {s['all_ms']['p99']:.1f} | "
            f"{s['hits_ms']['p50']:.2f} / {s['hits_ms']['p99']:.2f} |"
        )
    warm = report.get("cache_status_cached_run", {})
    lines += [
        "",
        f"p50 with the cache is {faster:.0%} lower than without.",
        f"Cached run: {report['llm_calls_cached_run']} LLM calls; "
        f"{warm.get('warm_computations', 0)} replies recomputed after edits "
        f"({warm.get('warm_passes', 0)} passes), {warm.get('computations', 0)} computations.",
    ]
    if b is None:
        return "\n".join(lines)
    lines += [
        "",
        f"Built-ins on a {b['words']:,}-word document, uncached, over HTTP (median / max of 3):",
        "",
        "| agent | median ms | max ms |",
        "|---|---|---|",
    ]
    for agent in ("style", "readability", "outline"):
        lines.append(f"| {agent} | {b[agent]['median_ms']} | {b[agent]['max_ms']} |")
    n = report.get("novel_cached")
    if n:
        lines += [
            "",
            f"Style on that document with the cache: {n['first']['source']} in "
            f"{n['first']['ms']} ms, then {n['second']['source']} in {n['second']['ms']} ms "
            f"({n['second']['reply_bytes']:,} bytes of NDJSON).",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--down-requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--edit-rate", type=float, default=0.02)
    parser.add_argument("--llm-first-byte-ms", type=float, default=300)
    parser.add_argument("--novel-words", type=int, default=100_000, help="0: skip that part")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the raw report here")
    options = parser.parse_args()
    result = asyncio.run(main(options))
    if options.json:
        options.json.write_text(json.dumps(result, indent=2, default=str))
    print(render(result))
    sys.exit(exit_status(failures(result)))

"""Pooled PostgreSQL: 6 nodes through pgbouncer (transaction mode) against 6 nodes direct.

Each node keeps its own asyncpg pool (``--database-pool-min/max``). Direct, PostgreSQL
holds every node's pool: nodes x pool connections, each a backend process with its own
memory. Through pgbouncer in transaction mode the nodes share ``--server-pool`` server
connections (pgbouncer's ``default_pool_size``), lent per transaction. The question is
what that sharing costs in save-ack latency and what it saves in connections.

Both phases run in one invocation on one PostgreSQL, each on a fresh database with fresh
nodes: writers (bench/save_latency.py's typists: one keystroke every 150-300 ms, send ->
the ``saved`` ack covering it) spread round-robin over the nodes; documents are a
multiple of the node count so each document's writers share a node (no Redis needed).
During the measured window the PostgreSQL connections to the benchmark database are
counted in ``pg_stat_activity`` every 0.25 s (all of them, and those not idle).

Nodes are pinned to core 0, the generator to core 1; PostgreSQL and pgbouncer float.
Exits non-zero if either phase's load did not run cleanly (fewer writers connected, no
acks, any error), if pgbouncer let more than ``--server-pool`` connections reach
PostgreSQL, or if the pooled p99 is over ``--p99-ms``.

    .venv/bin/python bench/pooling.py                       # 120 writers, 20 s per phase
    .venv/bin/python bench/pooling.py --writers 60 --duration 10 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import common
from common import (
    ServerProcess,
    fmt,
    markdown_table,
)
from save_latency import Generator, Writer, add_typing_arguments, load_failures

from devtools.pgbouncer import PgBouncer
from devtools.postgres import PostgresServer, run_sql


class SpreadGenerator(Generator):
    """save_latency's typists, each writer on node ``idx % len(ports)``."""

    def __init__(self, args: argparse.Namespace, ports: Sequence[int], run_id: str) -> None:
        super().__init__(args, ports[0], run_id)
        self.ports = list(ports)

    def port_for(self, w: Writer) -> int:
        return self.ports[w.idx % len(self.ports)]


class ConnectionSampler:
    """Counts a database's backends in pg_stat_activity from a thread while running."""

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.admin_url = admin_url
        self.dbname = dbname
        self.samples: list[tuple[int, int]] = []  # (all, not idle)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int]:
        rows = run_sql(
            self.admin_url,
            "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
            f" WHERE datname = '{self.dbname}' AND pid <> pg_backend_pid()",
            timeout=5,
        )
        total, busy = rows[0][0]
        return int(total), int(busy)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):
                    self.samples.append(self.sample())
                self._stop.wait(0.25)

        self._thread = threading.Thread(target=loop, name="pg_stat_activity", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        totals = [t for t, _ in self.samples] or [0]
        busy = [b for _, b in self.samples] or [0]
        return {
            "max": max(totals),
            "mean": sum(totals) / len(totals),
            "max_busy": max(busy),
            "samples": len(self.samples),
        }


def run_phase(
    label: str, args: argparse.Namespace, pg: PostgresServer, bouncer: PgBouncer | None
) -> dict[str, Any]:
    if args.quiet_wait > 0:
        waited = common.wait_for_quiet(args.quiet_wait)
        if waited >= 2:
            print(f"# waited {waited:.0f}s for the machine to quieten", file=sys.stderr)
    dbname = f"bench_pool_{label}_{int(time.time())}"
    pg.create_database(dbname)
    url = bouncer.database_url(dbname) if bouncer else pg.database_url(dbname)
    extra = ["--database-pool-min", str(args.pool_min), "--database-pool-max", str(args.pool_max)]
    if bouncer:
        extra += ["--database-pooler", "pgbouncer"]
    workdir = Path(tempfile.mkdtemp(prefix=f"draftroom-bench-pool-{label}-"))
    nodes: list[ServerProcess] = []
    ports: list[int] = []
    sampler = ConnectionSampler(pg.url, dbname)
    try:
        for i in range(args.nodes):
            data = workdir / f"node{i}"
            data.mkdir(parents=True)
            ports.append(common.free_port())
            node = common.draftroom_server(
                port=ports[-1],
                data_dir=data,
                log_dir=data,
                database_url=url,
                extra=extra,
            )
            nodes.append(node)
            node.start()

        def on_window(which: str) -> None:
            if which == "start":
                sampler.start()

        gen = SpreadGenerator(args, ports, f"{label}{int(time.time())}")
        stats, writers = asyncio.run(asyncio.wait_for(gen.run(on_window), args.timeout))
        connections = sampler.stop()
    finally:
        sampler.stop()
        for node in nodes:
            with contextlib.suppress(Exception):
                node.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    wall = stats.window[1] - stats.window[0]
    unacked = stats.measured_sent - stats.measured_acked
    errors = {
        "connect": stats.connect_errors,
        "closed_early": stats.closed_early,
        "close_codes": stats.close_codes,
        "app_error_messages": stats.app_errors,
        "unacked_after_drain": unacked,
    }
    return {
        "phase": label,
        "nodes": args.nodes,
        "writers": args.writers,
        "connected": sum(1 for w in writers if w.client is not None),
        "updates_acked": stats.measured_acked,
        "throughput_acked_per_s": stats.measured_acked / wall if wall else 0.0,
        "latency_ms": common.percentiles(stats.latencies_ms, (50, 95, 99)),
        "pg_connections": connections,
        "errors": errors,
        "errors_total": stats.connect_errors + stats.closed_early + stats.app_errors + unacked,
    }


def failures(results: Sequence[Mapping[str, Any]], *, server_pool: int, p99_ms: float) -> list[str]:
    """Why this run does not count or missed its targets; empty when it passed."""
    out: list[str] = []
    for r in results:
        out += load_failures(r["phase"], r)
        if not r["pg_connections"]["samples"]:
            out.append(f"{r['phase']}: PostgreSQL connections were never sampled")
    for r in results:
        if r["phase"] != "pgbouncer":
            continue
        used = r["pg_connections"]["max"]
        if used > server_pool:
            out.append(f"pgbouncer: {used} PostgreSQL connections, over its pool of {server_pool}")
        p99 = r["latency_ms"]["p99"]
        if not p99 <= p99_ms:  # NaN (nothing measured) is a miss too
            out.append(f"pgbouncer: save-ack p99 {fmt(p99, 1)} ms over {p99_ms:g} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=6)
    add_typing_arguments(p, writers=120, docs=30, duration=20.0)  # per phase; docs: x nodes
    p.add_argument("--server-pool", type=int, default=20, help="pgbouncer default_pool_size")
    p.add_argument("--pool-min", type=int, default=2, help="each node's --database-pool-min")
    p.add_argument("--pool-max", type=int, default=10, help="each node's --database-pool-max")
    p.add_argument("--p99-ms", type=float, default=100.0, help="pooled save-ack p99 budget")
    p.add_argument("--quiet-wait", type=float, default=30.0)
    p.add_argument("--json", help="write results here")
    p.add_argument("--keep", action="store_true", help="keep the nodes' data and log dirs")
    args = p.parse_args(argv)
    if args.docs % args.nodes:
        p.error("--docs must be a multiple of --nodes (each document's writers on one node)")
    args.timeout = args.writers / args.connect_rate + args.warmup + args.duration + 120
    common.install_signal_handlers()
    common.pin_generator()
    common.install_uvloop()
    info = common.machine_info()
    info["draftroom_source"] = common.source_revision(None)
    results: list[dict[str, Any]] = []
    pg = PostgresServer(extra_conf={"max_connections": "300"})
    bouncer: PgBouncer | None = None
    try:
        pg.start()
        bouncer = PgBouncer(pg.port, pool_size=args.server_pool).start()
        for label, via in (("direct", None), ("pgbouncer", bouncer)):
            print(
                f"# {label}: {args.nodes} nodes, {args.writers} writers, {args.docs} docs, "
                f"{args.warmup:g}s warm-up + {args.duration:g}s measured",
                file=sys.stderr,
            )
            results.append(run_phase(label, args, pg, via))
    finally:
        if bouncer is not None:
            with contextlib.suppress(Exception):
                bouncer.cleanup()
        with contextlib.suppress(Exception):
            pg.cleanup()
    rows = []
    for r in results:
        lat, con = r["latency_ms"], r["pg_connections"]
        rows.append(
            [
                r["phase"],
                f"{r['connected']}/{r['writers']}",
                fmt(lat["p50"], 2),
                fmt(lat["p95"], 2),
                fmt(lat["p99"], 2),
                fmt(lat["max"], 1),
                fmt(r["throughput_acked_per_s"], 0),
                con["max"],
                fmt(con["mean"], 1),
                con["max_busy"],
                r["errors_total"],
            ]
        )
    print()
    print(common.machine_line(info))
    print(f"Draftroom code: {info['draftroom_source']}")
    print(
        f"{args.nodes} nodes (pool {args.pool_min}-{args.pool_max} each) on core 0, generator "
        f"on core 1; pgbouncer transaction mode, default_pool_size {args.server_pool}; "
        f"{args.warmup:g}s warm-up, {args.duration:g}s measured per phase.\n"
    )
    print(
        markdown_table(
            [
                "PostgreSQL via",
                "writers",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "acked/s",
                "PG conns max",
                "PG conns mean",
                "PG conns busy max",
                "errors",
            ],
            rows,
        )
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": info, "args": vars(args), "results": results}, indent=2, default=str
            )
        )
    return common.exit_status(failures(results, server_pool=args.server_pool, p99_ms=args.p99_ms))


if __name__ == "__main__":
    sys.exit(main())

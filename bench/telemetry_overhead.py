"""Telemetry cost: the save-latency benchmark with telemetry fully off and fully on, in one run.

    .venv/bin/python bench/telemetry_overhead.py                      # sqlite, 2 rounds
    .venv/bin/python bench/telemetry_overhead.py --store postgres --rounds 3 --duration 30

"off": ``OTEL_SDK_DISABLED=true --no-metrics-endpoint --no-analytics`` (nothing at all).
"on":  ``--telemetry`` with traces, metrics and logs exported over OTLP/HTTP to a real
loopback receiver in this process (it answers every export with 200), 1% of edits
traced end to end (the default), usage analytics on, /metrics scraped every
``--scrape-every`` seconds and OTLP metrics pushed every ``--export-interval`` seconds
(both 15 by default; ``--scrape-every 1 --export-interval 5`` is a harsher setting).

The configurations alternate (off, on, off, on, ...) so drift hits both alike. The
workload and measurement are bench/save_latency.py's (same writers, same pinning);
the offered load is fixed, so the cost of telemetry shows as server CPU per acked
update and as latency; both are printed, with the on/off ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import common
import save_latency
from common import fmt, markdown_table

from devtools.postgres import PostgresServer

# Benchmark writers connect without accounts (loopback only).
BASE_ARGS = ["--allow-anonymous"]
OFF_ARGS = [*BASE_ARGS, "--no-metrics-endpoint", "--no-analytics"]
ON_ARGS = [*BASE_ARGS, "--telemetry", "--trace-edit-ratio", "0.01"]


class _Sink(BaseHTTPRequestHandler):
    """OTLP/HTTP receiver: an empty protobuf Export*ServiceResponse is a full success."""

    received = {"requests": 0, "bytes": 0}

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        _Sink.received["requests"] += 1
        _Sink.received["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer((common.LOOPBACK, 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{common.LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def configured(mode: str, endpoint: str) -> Iterator[None]:
    """Point save_latency's server launcher at one configuration."""
    original = common.draftroom_server
    saved_env = dict(os.environ)
    extra = OFF_ARGS if mode == "off" else ON_ARGS

    def launcher(**kwargs: Any) -> Any:
        kwargs["extra"] = [*kwargs.get("extra", ()), *extra]
        server = original(**kwargs)
        if mode == "on":
            _scrape_while_running(kwargs["port"])
        return server

    if mode == "off":
        os.environ["OTEL_SDK_DISABLED"] = "true"
    else:
        os.environ.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_METRIC_EXPORT_INTERVAL=str(int(EXPORT_INTERVAL[0] * 1000)),
            OTEL_SERVICE_NAME="draftroom-bench",
        )
    common.draftroom_server = launcher
    try:
        yield
    finally:
        common.draftroom_server = original
        os.environ.clear()
        os.environ.update(saved_env)


_scrapes = {"ok": 0, "failed": 0}
SCRAPE_EVERY = [15.0]
EXPORT_INTERVAL = [15.0]


def _scrape_while_running(port: int) -> None:
    """Scrape /metrics every SCRAPE_EVERY s until the server goes away (a daemon thread)."""

    def loop() -> None:
        failures = 0
        while failures < 2:
            time.sleep(SCRAPE_EVERY[0])
            try:
                with urllib.request.urlopen(f"http://{common.LOOPBACK}:{port}/metrics", timeout=2):
                    _scrapes["ok"] += 1
                    failures = 0
            except OSError:
                failures += 1
                _scrapes["failed"] += 1

    threading.Thread(target=loop, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    save_latency.add_typing_arguments(p, writers=200, docs=40, duration=20.0)
    p.add_argument(
        "--quiet-wait", type=float, default=30.0,
        help="before each run wait up to this long for the shared machine to go idle",
    )  # fmt: skip
    p.add_argument("--scrape-every", type=float, default=15.0, help="GET /metrics period (s)")
    p.add_argument("--export-interval", type=float, default=15.0, help="OTLP metrics period (s)")
    args = p.parse_args(argv)
    SCRAPE_EVERY[0], EXPORT_INTERVAL[0] = args.scrape_every, args.export_interval
    common.install_signal_handlers()
    common.pin_generator()
    common.install_uvloop()
    info = common.machine_info()
    bench_args = argparse.Namespace(
        writers=args.writers, docs=args.docs, duration=args.duration, warmup=args.warmup,
        drain=args.drain, interval_ms=tuple(args.interval_ms), connect_rate=args.connect_rate,
        seed=args.seed, source=None,
        timeout=args.writers / args.connect_rate + args.warmup + args.duration + 120,
        keep=False, _pg_pid=None, quiet_wait=args.quiet_wait,
    )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    pg = None
    try:
        url = None
        if args.store == "postgres":
            pg = PostgresServer()
            pg.start()
            bench_args._pg_pid = pg.pid
        with otlp_sink() as endpoint:
            for i in range(args.rounds):
                for mode in ("off", "on"):
                    if pg is not None:
                        url = pg.create_database(f"bench_tel_{mode}_{i}_{int(time.time())}")
                    print(f"# round {i + 1}/{args.rounds}: telemetry {mode}", file=sys.stderr)
                    with configured(mode, endpoint):
                        r = save_latency.run_store(args.store, bench_args, url)
                    results[mode].append(r)
                    print(
                        f"#   {mode}: p50 {r['latency_ms']['p50']:.2f} ms, "
                        f"p99 {r['latency_ms']['p99']:.2f} ms, "
                        f"{r['throughput_acked_per_s']:.0f} acked/s, "
                        f"server CPU {r['server_cpu_pct']:.1f}%",
                        file=sys.stderr,
                    )
    finally:
        if pg is not None:
            with contextlib.suppress(Exception):
                pg.cleanup()

    def summary(mode: str) -> dict[str, float]:
        runs = results[mode]
        n = len(runs)
        acked = sum(r["updates_acked"] for r in runs)
        cpu_s = sum(r["server_cpu_pct"] / 100 * r["duration_s"] for r in runs)
        return {
            "p50": sum(r["latency_ms"]["p50"] for r in runs) / n,
            "p99": sum(r["latency_ms"]["p99"] for r in runs) / n,
            "acked_per_s": sum(r["throughput_acked_per_s"] for r in runs) / n,
            "cpu_pct": sum(r["server_cpu_pct"] for r in runs) / n,
            "cpu_us_per_update": 1e6 * cpu_s / acked if acked else 0.0,
            "errors": sum(r["errors_total"] for r in runs),
            "rss": sum(r["server_rss_mb"] for r in runs) / n,
        }

    off, on = summary("off"), summary("on")
    rows = []
    for mode, s in (("off", off), ("on", on)):
        rows.append([
            mode, fmt(s["p50"], 2), fmt(s["p99"], 2), fmt(s["acked_per_s"], 0),
            fmt(s["cpu_pct"], 1), fmt(s["cpu_us_per_update"], 1), int(s["errors"]),
            fmt(s["rss"], 0),
        ])  # fmt: skip

    def delta(key: str) -> str:
        return f"{100 * (on[key] / off[key] - 1):+.1f}%" if off[key] else "-"

    rows.append([
        "on vs off", delta("p50"), delta("p99"), delta("acked_per_s"), delta("cpu_pct"),
        delta("cpu_us_per_update"), "", delta("rss"),
    ])  # fmt: skip
    print()
    print(common.machine_line(info))
    print(
        f"store {args.store}; {args.writers} writers on {args.docs} docs, keystroke every "
        f"{args.interval_ms[0]:g}-{args.interval_ms[1]:g} ms; {args.rounds} rounds of "
        f"off/on, {args.warmup:g}s warm-up + {args.duration:g}s measured each (means); "
        f"/metrics scraped every {args.scrape_every:g}s, OTLP metrics every "
        f"{args.export_interval:g}s.\n"
        f"OTLP receiver got {_Sink.received['requests']} exports "
        f"({_Sink.received['bytes'] / 1024:.0f} KiB); /metrics scrapes {_scrapes['ok']} ok, "
        f"{_scrapes['failed']} failed (the last ones as servers stop).\n"
    )
    print(
        markdown_table(
            [
                "telemetry",
                "p50 ms",
                "p99 ms",
                "acked/s",
                "server CPU %",
                "CPU µs/update",
                "errors",
                "RSS MB",
            ],
            rows,
        )
    )
    return common.exit_status(
        [
            reason
            for mode in ("off", "on")
            for i, r in enumerate(results[mode])
            for reason in save_latency.load_failures(f"telemetry {mode}, round {i + 1}", r)
        ]
    )


if __name__ == "__main__":
    sys.exit(main())

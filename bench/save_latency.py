"""Save-acknowledgement latency under human-speed typing, SQLite and PostgreSQL stores.

N writer connections (default 200) over M documents (default 40) each type one
keystroke every 150-300 ms (uniform jitter); a keystroke is a one-character Yjs insert
made with pycrdt (one Doc per writer). Per update we measure send -> the ``saved`` ack
that covers it (acks are coalesced: ``upto`` covers every update numbered <= upto; the
reply to the server's sync step 1 is the connection's update #1).

The server is pinned to core 0 (taskset), this generator to core 1. Incoming updates
from other writers are not decoded: only the frame type byte and app messages are read.

    .venv/bin/python bench/save_latency.py                     # both stores, 200 writers
    .venv/bin/python bench/save_latency.py --store sqlite --writers 400 --json out.json
    .venv/bin/python bench/save_latency.py --store postgres --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import msgpack
from common import (
    EMPTY_STATE_VECTOR,
    MSG_APP,
    MSG_SYNC,
    SYNC_STEP1,
    RateLimiter,
    WSClient,
    fmt,
    markdown_table,
    percentiles,
    sync_payload,
    ws_connect,
)

from devtools.postgres import PostgresServer
from draftroom.crdt.protocol import SyncType
from draftroom.crdt.protocol import encode_sync as sync_frame

LETTERS = "abcdefghijklmnopqrstuvwxyz     "


@dataclass
class Writer:
    idx: int
    doc_name: str
    doc: Any = None
    text: Any = None
    length: int = 0
    client: WSClient | None = None
    sent: int = 0  # numbered messages (step2 + updates) sent on this connection
    acked: int = 0
    pending: deque[tuple[int, float, bool]] = field(default_factory=deque)  # (k, t, measured)
    welcome: bool = False


@dataclass
class RunStats:
    latencies_ms: list[float] = field(default_factory=list)
    measured_sent: int = 0
    measured_acked: int = 0
    connect_errors: int = 0
    closed_early: int = 0
    app_errors: int = 0
    acks: int = 0
    window: tuple[float, float] = (0.0, 0.0)
    close_codes: dict[int, int] = field(default_factory=dict)


class Generator:
    def __init__(self, args: argparse.Namespace, port: int, run_id: str) -> None:
        self.args = args
        self.port = port
        self.run_id = run_id
        self.stats = RunStats()
        self.stopping = False
        self.rng = random.Random(args.seed)

    # incoming -----------------------------------------------------------------------

    def on_message(self, client: WSClient, frame: bytes) -> None:
        w: Writer = client.user
        kind = frame[0]
        if kind == MSG_SYNC:
            sub = frame[1]
            if sub == SYNC_STEP1:
                # Reply with what we have that the server lacks (numbered like an update).
                update = w.doc.get_update(sync_payload(frame))
                w.client = client  # may arrive before ws_connect() has returned
                self._send_numbered(w, sync_frame(SyncType.STEP2, update), measured=False)
            # STEP2 / UPDATE from the server: other writers' edits; not decoded.
            return
        if kind == MSG_APP:
            msg = msgpack.unpackb(frame[1:], raw=False)
            t = msg.get("type")
            if t == "saved":
                self.stats.acks += 1
                upto = msg["upto"]
                now = time.perf_counter()
                pend = w.pending
                while pend and pend[0][0] <= upto:
                    _, sent_at, measured = pend.popleft()
                    if measured:
                        self.stats.latencies_ms.append((now - sent_at) * 1000.0)
                        self.stats.measured_acked += 1
                if upto > w.acked:
                    w.acked = upto
            elif t == "welcome":
                w.welcome = True
            elif t == "error":
                self.stats.app_errors += 1

    def on_close(self, client: WSClient) -> None:
        if not self.stopping:
            self.stats.closed_early += 1
            code = client.close_code or 0
            self.stats.close_codes[code] = self.stats.close_codes.get(code, 0) + 1

    # outgoing -----------------------------------------------------------------------

    def _send_numbered(self, w: Writer, frame: bytes, measured: bool) -> None:
        assert w.client is not None
        w.sent += 1
        w.pending.append((w.sent, time.perf_counter(), measured))
        w.client.send(frame)

    def keystroke(self, w: Writer, measured: bool) -> None:
        doc, text = w.doc, w.text
        before = doc.get_state()
        text.insert(w.length, self.rng.choice(LETTERS))
        w.length += 1
        update = doc.get_update(before)
        if measured:
            self.stats.measured_sent += 1
        self._send_numbered(w, sync_frame(SyncType.UPDATE, update), measured)

    # phases ---------------------------------------------------------------------------

    def port_for(self, w: Writer) -> int:
        """The node a writer connects to (one here; bench/pooling.py spreads them)."""
        return self.port

    async def connect_all(self, writers: list[Writer]) -> None:
        from pycrdt import Doc, Text

        limiter = RateLimiter(self.args.connect_rate)

        async def one(w: Writer) -> None:
            w.doc = Doc()
            w.text = w.doc.get("text", type=Text)
            try:
                w.client = await ws_connect(
                    common.LOOPBACK,
                    self.port_for(w),
                    f"/ws/{w.doc_name}?draftroom=1",
                    self.on_message,
                    on_close=self.on_close,
                    user=w,
                    timeout=10,
                )
            except (OSError, TimeoutError, ConnectionError):
                self.stats.connect_errors += 1
                return
            # a y-websocket client opens with its own sync step 1
            w.client.send(sync_frame(SyncType.STEP1, EMPTY_STATE_VECTOR))

        tasks = []
        for w in writers:
            await limiter.wait()
            tasks.append(asyncio.create_task(one(w)))
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        # wait (bounded) for every connection's sync step 2 to be acked
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all(w.client is None or w.client.closed or w.acked >= 1 for w in writers):
                break
            await asyncio.sleep(0.05)

    async def typist(self, w: Writer, t_measure: float, t_end: float) -> None:
        lo, hi = self.args.interval_ms
        await asyncio.sleep(self.rng.uniform(0, hi) / 1000)  # spread the phases
        while True:
            now = time.monotonic()
            if now >= t_end or w.client is None or w.client.closed:
                return
            self.keystroke(w, measured=now >= t_measure)
            await asyncio.sleep(self.rng.uniform(lo, hi) / 1000)

    async def run(self, on_window: Any) -> tuple[RunStats, list[Writer]]:
        a = self.args
        writers = [Writer(i, f"lat-{self.run_id}-{i % a.docs}") for i in range(a.writers)]
        await self.connect_all(writers)
        live = [w for w in writers if w.client is not None and not w.client.closed]
        t0 = time.monotonic()
        t_measure = t0 + a.warmup
        t_end = t_measure + a.duration
        tasks = [asyncio.create_task(self.typist(w, t_measure, t_end)) for w in live]
        await asyncio.sleep(max(0.0, t_measure - time.monotonic()))
        on_window("start")
        await asyncio.sleep(max(0.0, t_end - time.monotonic()))
        on_window("end")
        self.stats.window = (t_measure, t_end)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        # drain: wait (bounded) for outstanding acks
        deadline = time.monotonic() + a.drain
        while time.monotonic() < deadline:
            if all(not w.pending or w.client is None or w.client.closed for w in live):
                break
            await asyncio.sleep(0.05)
        self.stopping = True
        for w in writers:
            if w.client is not None:
                w.client.close()
        await asyncio.sleep(0.2)
        return self.stats, writers


def load_failures(label: str, run: Mapping[str, Any]) -> list[str]:
    """common.load_failures for a typists' run as run_store records it (pooling and
    telemetry_overhead record theirs with the same keys)."""
    return common.load_failures(
        label,
        wanted=run["writers"],
        connected=run["connected"],
        measured=run["updates_acked"],
        errors_total=run["errors_total"],
        errors=run["errors"],
    )


def run_store(store: str, args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    if args.quiet_wait > 0:
        waited = common.wait_for_quiet(args.quiet_wait)
        if waited >= 2:
            print(f"# waited {waited:.0f}s for the machine to quieten", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix=f"draftroom-bench-lat-{store}-"))
    port = common.free_port()
    server = common.draftroom_server(
        port=port,
        data_dir=workdir / "data",
        log_dir=workdir,
        database_url=database_url,
        source=args.source,
    )
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    marks: dict[str, tuple[float, float, float, float]] = {}
    pg_pid = args._pg_pid
    cores = common.CoreMeter()
    busy: list[float] = []
    gen_cpu: list[float] = []

    def on_window(which: str) -> None:
        pg_cpu = common.tree_cpu_seconds(pg_pid) if pg_pid else 0.0
        marks[which] = (time.monotonic(), *server.cpu_split(), pg_cpu)
        if which == "start":
            cores.start()
            gen_cpu.append(time.process_time())
        else:
            busy.extend(cores.stop())
            gen_cpu.append(time.process_time())

    try:
        server.start()
        run_id = f"{store}{int(time.time())}"
        gen = Generator(args, port, run_id)
        stats, writers = asyncio.run(asyncio.wait_for(gen.run(on_window), args.timeout))
        rss = server.rss_bytes()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    (t_a, usr_a, sys_a, pg_a), (t_b, usr_b, sys_b, pg_b) = marks["start"], marks["end"]
    cpu_a, cpu_b = usr_a + sys_a, usr_b + sys_b
    wall = t_b - t_a
    unacked = stats.measured_sent - stats.measured_acked
    pct = percentiles(stats.latencies_ms, (50, 95, 99))
    return {
        "store": store,
        "writers": args.writers,
        "docs": args.docs,
        "duration_s": round(wall, 2),
        "connected": sum(1 for w in writers if w.client is not None),
        "updates_sent": stats.measured_sent,
        "updates_acked": stats.measured_acked,
        "throughput_acked_per_s": stats.measured_acked / wall if wall else 0.0,
        "latency_ms": pct,
        "ack_frames": stats.acks,
        "errors": {
            "connect": stats.connect_errors,
            "closed_early": stats.closed_early,
            "close_codes": stats.close_codes,
            "app_error_messages": stats.app_errors,
            "unacked_after_drain": unacked,
        },
        "errors_total": stats.connect_errors + stats.closed_early + stats.app_errors + unacked,
        "server_cpu_pct": 100.0 * (cpu_b - cpu_a) / wall if wall else 0.0,
        "server_cpu_user_pct": 100.0 * (usr_b - usr_a) / wall if wall else 0.0,
        "server_cpu_sys_pct": 100.0 * (sys_b - sys_a) / wall if wall else 0.0,
        "postgres_cpu_pct": (100.0 * (pg_b - pg_a) / wall) if (pg_pid and wall) else None,
        "server_rss_mb": rss / 2**20,
        "core_busy_pct": [round(x, 1) for x in busy],
        "generator_cpu_pct": 100.0 * (gen_cpu[1] - gen_cpu[0]) / wall if wall else 0.0,
        # machine busy time not accounted for by server, PostgreSQL and this generator
        "other_load_pct": max(
            0.0,
            sum(busy)
            - 100.0 * (cpu_b - cpu_a + (pg_b - pg_a)) / wall
            - 100.0 * (gen_cpu[1] - gen_cpu[0]) / wall,
        )
        if wall
        else 0.0,
    }


def add_typing_arguments(
    p: argparse.ArgumentParser, *, writers: int, docs: int, duration: float
) -> None:
    """The options the Generator reads; the benches that reuse it add theirs around them."""
    p.add_argument("--writers", type=int, default=writers)
    p.add_argument("--docs", type=int, default=docs)
    p.add_argument("--duration", type=float, default=duration, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="typing seconds before measuring")
    p.add_argument("--drain", type=float, default=10.0, help="max seconds to wait for last acks")
    p.add_argument(
        "--interval-ms",
        type=float,
        nargs=2,
        default=(150.0, 300.0),
        metavar=("LO", "HI"),
        help="keystroke interval range (uniform)",
    )
    p.add_argument("--connect-rate", type=float, default=100.0, help="new connections per s")
    p.add_argument("--seed", type=int, default=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_typing_arguments(p, writers=200, docs=40, duration=30.0)
    p.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--database-url", help="use this PostgreSQL instead of a throwaway one")
    p.add_argument("--timeout", type=float, default=0.0, help="hard limit per store (s)")
    p.add_argument(
        "--source",
        help="directory with a draftroom package to run instead of "
        "the installed one (e.g. `git archive HEAD draftroom | tar -x -C DIR`)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each store wait up to this long for the shared machine to go idle",
    )
    p.add_argument("--json", help="write results here")
    p.add_argument("--keep", action="store_true", help="keep the temp data/log dirs")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        args.timeout = args.writers / args.connect_rate + args.warmup + args.duration + 120
    common.install_signal_handlers()
    common.pin_generator()
    common.install_uvloop()
    info = common.machine_info()
    info["draftroom_source"] = common.source_revision(args.source)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    results: list[dict[str, Any]] = []
    pg = None
    try:
        for store in stores:
            url = None
            args._pg_pid = None
            if store == "postgres":
                url = args.database_url
                if url is None:
                    pg = PostgresServer()
                    pg.start()
                    url = pg.create_database(f"bench_{int(time.time())}")
                    args._pg_pid = pg.pid
            print(
                f"# {store}: {args.writers} writers, {args.docs} docs, "
                f"{args.warmup:g}s warm-up + {args.duration:g}s measured",
                file=sys.stderr,
            )
            results.append(run_store(store, args, url))
    finally:
        if pg is not None:
            with contextlib.suppress(Exception):
                pg.cleanup()
    rows = []
    for r in results:
        lat = r["latency_ms"]
        pg_cpu = r["postgres_cpu_pct"]
        rows.append(
            [
                r["store"],
                r["writers"],
                r["docs"],
                fmt(lat["p50"], 2),
                fmt(lat["p95"], 2),
                fmt(lat["p99"], 2),
                fmt(lat["max"], 2),
                fmt(r["throughput_acked_per_s"], 0),
                r["updates_acked"],
                r["errors_total"],
                f"{fmt(r['server_cpu_pct'], 0)} ({fmt(r['server_cpu_user_pct'], 0)}/"
                f"{fmt(r['server_cpu_sys_pct'], 0)})",
                fmt(pg_cpu, 0) if pg_cpu is not None else "-",
                fmt(r["server_rss_mb"], 0),
                "/".join(fmt(x, 0) for x in r["core_busy_pct"]),
            ]
        )
    print()
    print(common.machine_line(info))
    print(f"Draftroom code: {common.source_revision(args.source)}")
    print(
        f"Server pinned to core 0 (taskset), generator on core 1; warm-up {args.warmup:g}s, "
        f"measured {args.duration:g}s; keystroke every {args.interval_ms[0]:g}-"
        f"{args.interval_ms[1]:g} ms per writer.\n"
    )
    print(
        markdown_table(
            [
                "store",
                "writers",
                "docs",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "acked/s",
                "acked updates",
                "errors",
                "server CPU % (usr/sys)",
                "postgres CPU %",
                "server RSS MB",
                "cores busy %",
            ],
            rows,
        )
    )
    for r in results:
        if r["other_load_pct"] > 15:
            print(
                f"\nWARNING {r['store']}: other processes used {r['other_load_pct']:.0f}% CPU "
                "(summed over cores) during the window; figures are perturbed."
            )
    for r in results:
        if r["errors_total"]:
            print(f"\n{r['store']} errors: {r['errors']}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                    "results": results,
                },
                indent=2,
                default=str,
            )
        )
    return common.exit_status([reason for r in results for reason in load_failures(r["store"], r)])


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out: client-to-client delivery latency and server CPU per delivered update,
Draftroom (SQLite store) vs the Node reference ``@y/websocket-server`` 0.1.1 (yjs 13.6.33),
under identical load.

Clients sit in rooms of 5; the first member of each room (20% of clients) types one
insert every 300 ms, the others only receive. Every insert carries a marker
``~<typist>.<seq>.<send time µs, CLOCK_MONOTONIC>~`` that receivers find by scanning the
raw update bytes (no pycrdt decode at receivers), so latency is measured client to client
even across generator processes. Per server and client count we report p50/p99 delivery
latency, server CPU µs per delivered update (server CPU seconds over the measured window
÷ update frames delivered to receivers in that window), server RSS, and errors
(connect failures, unexpected closes, lost deliveries).

The server is pinned to core 0, all generator processes to core 1. Each step starts a
fresh server; clients connect at a bounded rate before typing starts.

    .venv/bin/python bench/fanout.py                                  # 500,1000,2000
    .venv/bin/python bench/fanout.py --clients 1000 --servers draftroom --profile-dir /tmp/prof

The hand-stepped send (``--ws-send stepped``: a frame to an idle socket written at
once) is paired against every frame through the writer task (``draftroom-queued``) in
one invocation, alternating (ABAB..., ``--rounds`` pairs) so drift on the shared
machine hits both alike:

    .venv/bin/python bench/fanout.py --clients 2000 --servers draftroom,draftroom-queued --rounds 4
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import (
    EMPTY_STATE_VECTOR,
    EMPTY_UPDATE,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    RateLimiter,
    WSClient,
    fmt,
    markdown_table,
    percentiles,
    sync_payload,
    ws_connect,
)

from draftroom.crdt.protocol import SyncType
from draftroom.crdt.protocol import encode_sync as sync_frame

MARKER_RE = re.compile(rb"~(\d+)\.(\d+)\.(\d+)~")
ROOM_SIZE = 5
# Draftroom server kinds and their --ws-send (see draftroom/server/connection.py).
SEND_PATHS = {"draftroom": "stepped", "draftroom-queued": "queued"}
NAMES = {
    "draftroom": "Draftroom (SQLite)",
    "draftroom-queued": "Draftroom, every frame via the writer task",
    "node": "@y/websocket-server 0.1.1",
}


# --------------------------------------------------------------------------------------------
# generator worker (one process, many clients, pinned to core 1)


@dataclass(slots=True)
class Member:
    cid: int
    room: str
    typist: bool
    doc: Any = None
    text: Any = None
    length: int = 0
    client: WSClient | None = None
    seq: int = 0
    synced: bool = False


@dataclass
class WorkerStats:
    latencies_us: array.array = field(default_factory=lambda: array.array("d"))
    worst_per_s: list[int] = field(default_factory=list)  # max latency per window second
    delivered_window: int = 0
    delivered_total: int = 0
    echoes: int = 0
    other_updates: int = 0
    sent_total: int = 0
    sent_window: int = 0
    expected_total: int = 0
    connect_errors: int = 0
    closed_early: int = 0
    close_codes: Counter = field(default_factory=Counter)
    connected: int = 0
    gen_cpu_window: float = 0.0


class Worker:
    def __init__(self, rooms: list[tuple[str, list[int]]], cfg: dict[str, Any]) -> None:
        self.rooms = rooms
        self.cfg = cfg
        self.stats = WorkerStats()
        self.members: list[Member] = []
        self.stopping = False
        self.win_start_us = 1 << 62
        self.win_end_us = 1 << 62

    def on_message(self, client: WSClient, frame: bytes) -> None:
        if frame[0] != MSG_SYNC:
            return  # awareness / app messages: not used here
        sub = frame[1]
        if sub == SYNC_UPDATE:
            now_us = time.monotonic_ns() // 1000
            m = MARKER_RE.search(frame)
            st = self.stats
            if m is None:
                st.other_updates += 1
                return
            member: Member = client.user
            if int(m[1]) == member.cid:
                st.echoes += 1  # the Node server echoes updates to their sender
                return
            st.delivered_total += 1
            if self.win_start_us <= now_us < self.win_end_us:
                st.delivered_window += 1
                lat = now_us - int(m[3])
                st.latencies_us.append(lat)
                sec = (now_us - self.win_start_us) // 1_000_000
                if sec < len(st.worst_per_s) and lat > st.worst_per_s[sec]:
                    st.worst_per_s[sec] = lat
        elif sub == SYNC_STEP1:
            member = client.user
            if member.doc is not None:
                update = member.doc.get_update(sync_payload(frame))
            else:
                update = EMPTY_UPDATE
            client.send(sync_frame(SyncType.STEP2, update))
        elif sub == SYNC_STEP2:
            client.user.synced = True

    def on_close(self, client: WSClient) -> None:
        if not self.stopping:
            self.stats.closed_early += 1
            self.stats.close_codes[client.close_code or 0] += 1

    async def connect_all(self) -> None:
        from pycrdt import Doc, Text

        cfg = self.cfg
        limiter = RateLimiter(cfg["connect_rate"])

        async def one(m: Member) -> None:
            if m.typist:
                m.doc = Doc()
                m.text = m.doc.get("text", type=Text)
            try:
                m.client = await ws_connect(
                    common.LOOPBACK,
                    cfg["port"],
                    cfg["path_prefix"] + m.room,
                    self.on_message,
                    on_close=self.on_close,
                    user=m,
                    timeout=15,
                )
            except (OSError, TimeoutError, ConnectionError):
                self.stats.connect_errors += 1
                return
            m.client.send(sync_frame(SyncType.STEP1, EMPTY_STATE_VECTOR))

        tasks = []
        for room, cids in self.rooms:
            for i, cid in enumerate(cids):
                m = Member(cid, room, typist=(i == 0))
                self.members.append(m)
                await limiter.wait()
                tasks.append(asyncio.create_task(one(m)))
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if all(m.client is None or m.client.closed or m.synced for m in self.members):
                break
            await asyncio.sleep(0.05)
        self.stats.connected = sum(
            1 for m in self.members if m.client is not None and not m.client.closed
        )

    async def typist(self, m: Member, t_type: float, t_win: float, t_end: float) -> None:
        interval = self.cfg["interval"]
        nxt = t_type + (m.cid * 0.6180339887 % 1.0) * interval  # spread phases evenly
        st = self.stats
        while True:
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            if now >= t_end or m.client is None or m.client.closed:
                return
            m.seq += 1
            doc, text = m.doc, m.text
            before = doc.get_state()
            t_us = time.monotonic_ns() // 1000
            marker = f"~{m.cid}.{m.seq}.{t_us}~"
            text.insert(m.length, marker)
            m.length += len(marker)
            m.client.send(sync_frame(SyncType.UPDATE, doc.get_update(before)))
            st.sent_total += 1
            if now >= t_win:
                st.sent_window += 1
            nxt += interval
            if nxt < now:  # fell behind (overloaded generator): don't burst
                nxt = now + interval

    async def run(self, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        await self.connect_all()
        conn.send(("connected", self.stats.connected, self.stats.connect_errors))
        go = await loop.run_in_executor(None, lambda: conn.recv() if conn.poll(600) else None)
        if go is None or go[0] != "go":
            return
        _, t_type, t_win, t_win_end, t_end, drain = go
        self.win_start_us = int(t_win * 1e6)
        self.win_end_us = int(t_win_end * 1e6)
        self.stats.worst_per_s = [0] * (int(t_win_end - t_win) + 1)
        typists = [m for m in self.members if m.typist and m.client is not None]
        tasks = [asyncio.create_task(self.typist(m, t_type, t_win, t_end)) for m in typists]
        await asyncio.sleep(max(0.0, t_win - time.monotonic()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, t_win_end - time.monotonic()))
        self.stats.gen_cpu_window = time.process_time() - cpu0
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        # expected deliveries: every insert to every other connected member of its room
        live_by_room: Counter = Counter(
            m.room for m in self.members if m.client is not None and not m.client.closed
        )
        sent_by_room: Counter = Counter()
        for m in typists:
            sent_by_room[m.room] += m.seq
        self.stats.expected_total = sum(
            n * max(0, live_by_room[room] - 1) for room, n in sent_by_room.items()
        )
        deadline = time.monotonic() + drain
        while (  # noqa: ASYNC110 - bounded poll of a counter
            time.monotonic() < deadline and self.stats.delivered_total < self.stats.expected_total
        ):
            await asyncio.sleep(0.05)
        self.stopping = True
        for m in self.members:
            if m.client is not None:
                m.client.close()
        await asyncio.sleep(0.3)


def worker_main(rooms: list[tuple[str, list[int]]], cfg: dict[str, Any], conn: Any) -> None:
    common.pin_generator()
    if cfg.get("uvloop", True):
        common.install_uvloop()
    w = Worker(rooms, cfg)
    try:
        asyncio.run(asyncio.wait_for(w.run(conn), cfg["timeout"]))
    except TimeoutError:
        w.stats.closed_early += 0  # reported through missing deliveries
    st = w.stats
    result = {
        "latencies_us": st.latencies_us.tobytes(),
        "worst_per_s": st.worst_per_s,
        "delivered_window": st.delivered_window,
        "delivered_total": st.delivered_total,
        "expected_total": st.expected_total,
        "echoes": st.echoes,
        "other_updates": st.other_updates,
        "sent_total": st.sent_total,
        "sent_window": st.sent_window,
        "connect_errors": st.connect_errors,
        "closed_early": st.closed_early,
        "close_codes": dict(st.close_codes),
        "connected": st.connected,
        "gen_cpu_window": st.gen_cpu_window,
    }
    with contextlib.suppress(OSError, BrokenPipeError):
        conn.send(("result", result))
    conn.close()


# --------------------------------------------------------------------------------------------
# profiling (py-spy raw/collapsed output -> top functions)


def find_py_spy() -> str | None:
    """py-spy on PATH or next to this interpreter (the venv's bin/)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def summarize_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    self_c: Counter = Counter()
    incl_c: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(f, 100.0 * n / total) for f, n in self_c.most_common(top)],
        "inclusive": [(f, 100.0 * n / total) for f, n in incl_c.most_common(top + 10)],
        "samples": total,
    }


# --------------------------------------------------------------------------------------------
# one step: one server, one client count


def run_step(server_kind: str, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    if args.quiet_wait > 0:
        waited = common.wait_for_quiet(args.quiet_wait)
        if waited >= 2:
            print(f"#   waited {waited:.0f}s for the machine to quieten", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix=f"draftroom-bench-fan-{server_kind}-"))
    port = common.free_port()
    if server_kind in SEND_PATHS:
        (workdir / "data").mkdir()
        # The default path is passed by default only, so --source may name older code.
        mode = SEND_PATHS[server_kind]
        server = common.draftroom_server(
            port=port,
            data_dir=workdir / "data",
            log_dir=workdir,
            source=args.source,
            extra=[] if mode == "stepped" else ["--ws-send", mode],
        )
        path_prefix = "/ws/"
    else:
        server = common.node_server(port=port, log_dir=workdir)
        path_prefix = "/"
    run_id = f"f{int(time.time() * 1000) % 10**9}"
    rooms: list[tuple[str, list[int]]] = []
    for r in range(math.ceil(clients / ROOM_SIZE)):
        ids = list(range(r * ROOM_SIZE, min(clients, (r + 1) * ROOM_SIZE)))
        rooms.append((f"{run_id}-r{r}", ids))
    procs = args.procs or max(1, math.ceil(clients / args.clients_per_proc))
    shards = [rooms[i::procs] for i in range(procs)]
    connect_time = clients / args.connect_rate
    cfg = {
        "port": port,
        "path_prefix": path_prefix,
        "connect_rate": args.connect_rate / procs,
        "interval": args.interval_ms / 1000.0,
        "uvloop": not args.no_uvloop,
        "timeout": connect_time + args.warmup + args.duration + args.drain + 240,
    }
    ctx = mp.get_context("spawn")
    workers: list[tuple[Any, Any]] = []
    spy: subprocess.Popen[bytes] | None = None
    profile: dict[str, Any] | None = None
    try:
        server.start()
        for shard in shards:
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(shard, cfg, child_end), daemon=True)
            p.start()
            child_end.close()
            workers.append((p, parent_end))
        connected = connect_errors = 0
        for _p, c in workers:
            if not c.poll(connect_time + 200):
                raise RuntimeError("a generator process did not finish connecting in time")
            _, ok, bad = c.recv()
            connected += ok
            connect_errors += bad
        rss_idle = server.rss_bytes()
        t_type = time.monotonic() + 0.5
        t_win = t_type + args.warmup
        t_win_end = t_win + args.duration
        for _, c in workers:
            c.send(("go", t_type, t_win, t_win_end, t_win_end, args.drain))
        time.sleep(max(0.0, t_win - time.monotonic()))
        cores = common.CoreMeter()
        cores.start()
        split_a = server.cpu_split()
        cpu_a = sum(split_a)
        wall_a = time.monotonic()
        if args.profile_dir and server_kind in SEND_PATHS and find_py_spy():
            out = Path(args.profile_dir) / f"{server_kind}-{clients}.collapsed"
            out.parent.mkdir(parents=True, exist_ok=True)
            pin = ["taskset", "-c", "1"] if common.server_cpu() is not None else []
            spy = subprocess.Popen(
                [
                    *pin,
                    find_py_spy() or "py-spy",
                    "record",
                    "--nonblocking",
                    "--format",
                    "raw",
                    *(["--gil"] if args.profile_gil else []),
                    "-r",
                    "100",
                    "-d",
                    str(int(args.duration)),
                    "-o",
                    str(out),
                    "--pid",
                    str(server.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(out.with_suffix(".log"), "wb"),
                start_new_session=True,
            )
        time.sleep(max(0.0, t_win_end - time.monotonic()))
        split_b = server.cpu_split()
        core_busy = cores.stop()
        cpu_b = sum(split_b)
        wall_b = time.monotonic()
        rss = server.rss_bytes()
        results = []
        for _p, c in workers:
            if c.poll(args.drain + 60):
                _kind, res = c.recv()
                results.append(res)
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
            out = Path(args.profile_dir) / f"{server_kind}-{clients}.collapsed"
            if out.exists():
                profile = summarize_collapsed(out)
                profile["file"] = str(out)
    finally:
        for p, c in workers:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()  # our own child, by its Process handle
                p.join(timeout=5)
            c.close()
        if spy is not None and spy.poll() is None:
            spy.kill()
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lat: array.array = array.array("d")
    for r in results:
        lat.frombytes(r["latencies_us"])
    lat_ms = [x / 1000.0 for x in lat]
    wall = wall_b - wall_a
    delivered = sum(r["delivered_window"] for r in results)
    expected = sum(r["expected_total"] for r in results)
    delivered_total = sum(r["delivered_total"] for r in results)
    lost = max(0, expected - delivered_total)
    closed_early = sum(r["closed_early"] for r in results)
    codes: Counter = Counter()
    for r in results:
        codes.update(r["close_codes"])
    missing_workers = len(workers) - len(results)
    cpu = cpu_b - cpu_a
    gen_cpu = sum(r["gen_cpu_window"] for r in results)
    return {
        "server": server_kind,
        "clients": clients,
        "connected": connected,
        "generator_procs": procs,
        "window_s": round(wall, 2),
        "latency_ms": percentiles(lat_ms, (50, 90, 99, 99.9)),
        # worst delivery latency in each second of the window (ms): shows stalls vs noise
        "worst_ms_per_s": [
            round(max(w) / 1000.0, 1)
            for w in zip(*(r["worst_per_s"] for r in results), strict=False)
        ],
        "inserts_sent_window": sum(r["sent_window"] for r in results),
        "delivered_window": delivered,
        "delivered_per_s": delivered / wall if wall else 0.0,
        "echo_frames": sum(r["echoes"] for r in results),
        "server_cpu_s": cpu,
        "server_cpu_pct": 100.0 * cpu / wall if wall else 0.0,
        "server_cpu_user_pct": 100.0 * (split_b[0] - split_a[0]) / wall if wall else 0.0,
        "server_cpu_sys_pct": 100.0 * (split_b[1] - split_a[1]) / wall if wall else 0.0,
        "cpu_us_per_delivery": 1e6 * cpu / delivered if delivered else float("nan"),
        "server_rss_mb": rss / 2**20,
        "server_rss_idle_mb": rss_idle / 2**20,
        "generator_cpu_pct": 100.0 * gen_cpu / wall if wall else 0.0,
        "core_busy_pct": [round(x, 1) for x in core_busy],
        # busy time on the server's core not spent by the server: other processes
        "other_load_core0_pct": max(0.0, core_busy[0] - 100.0 * cpu / wall) if wall else 0.0,
        "errors": {
            "connect": connect_errors,
            "closed_early": closed_early,
            "close_codes": dict(codes),
            "lost_deliveries": lost,
            "missing_generator_results": missing_workers,
        },
        "errors_total": connect_errors + closed_early + lost + missing_workers,
        "profile": profile,
    }


def paired_table(results: list[dict[str, Any]], kinds: list[str], counts: list[int]) -> str:
    """Each server against the first, round by round: the ratio of CPU µs/delivery and
    of delivery p99 within each round (same minute, same machine state), then their
    mean and spread (min-max) over the rounds. A difference is real only when the
    spread of the ratios stays on one side of 1."""
    base = kinds[0]
    rows = []
    for n in counts:
        by_kind = {k: [r for r in results if r["server"] == k and r["clients"] == n] for k in kinds}
        for k in kinds[1:]:
            pairs = list(zip(by_kind[base], by_kind[k], strict=False))
            cpu = [b["cpu_us_per_delivery"] / a["cpu_us_per_delivery"] for a, b in pairs]
            p99 = [b["latency_ms"]["p99"] / a["latency_ms"]["p99"] for a, b in pairs]
            rows.append(
                [
                    n,
                    f"{NAMES[k]} / {NAMES[base]}",
                    len(pairs),
                    " ".join(
                        f"{fmt(a['cpu_us_per_delivery'])}/{fmt(b['cpu_us_per_delivery'])}"
                        for a, b in pairs
                    ),
                    f"{fmt(sum(cpu) / len(cpu), 3)} ({fmt(min(cpu), 3)}-{fmt(max(cpu), 3)})",
                    " ".join(
                        f"{fmt(a['latency_ms']['p99'], 1)}/{fmt(b['latency_ms']['p99'], 1)}"
                        for a, b in pairs
                    ),
                    f"{fmt(sum(p99) / len(p99), 3)} ({fmt(min(p99), 3)}-{fmt(max(p99), 3)})",
                ]
            )
    return markdown_table(
        [
            "clients",
            "pair (B / A)",
            "rounds",
            "CPU µs/delivery A/B per round",
            "CPU ratio B/A mean (min-max)",
            "p99 ms A/B per round",
            "p99 ratio B/A mean (min-max)",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", default="500,1000,2000", help="comma-separated client counts")
    p.add_argument(
        "--servers",
        default="draftroom,node",
        help=f"some of {','.join(NAMES)} (order kept); draftroom-queued: --ws-send queued",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the servers this many times per client count, alternating (A B A B ...); "
        "with 2+ rounds a paired table compares each server with the first",
    )
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=3.0, help="typing seconds before measuring")
    p.add_argument("--drain", type=float, default=5.0, help="max seconds for late deliveries")
    p.add_argument("--interval-ms", type=float, default=300.0, help="typist insert interval")
    p.add_argument("--connect-rate", type=float, default=250.0, help="new connections per s")
    p.add_argument("--procs", type=int, default=0, help="generator processes (0: auto)")
    p.add_argument("--clients-per-proc", type=int, default=1000, help="for --procs 0")
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument("--profile-dir", help="py-spy the Draftroom server during each window")
    p.add_argument(
        "--source",
        help="directory with a draftroom package to run instead of "
        "the installed one (e.g. `git archive HEAD draftroom | tar -x -C DIR`)",
    )
    p.add_argument(
        "--profile-gil", action="store_true", help="py-spy --gil: only the GIL-holding thread"
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each step wait up to this long for the shared machine to go idle",
    )
    p.add_argument("--json", help="write results here")
    p.add_argument("--keep", action="store_true", help="keep temp dirs (server logs)")
    args = p.parse_args(argv)
    common.install_signal_handlers()
    info = common.machine_info()
    info["draftroom_source"] = common.source_revision(args.source)
    counts = [int(x) for x in args.clients.split(",") if x.strip()]
    kinds = [s.strip() for s in args.servers.split(",") if s.strip()]
    for k in kinds:
        if k not in NAMES:
            p.error(f"unknown server {k!r}")
    if "node" in kinds:
        common.ensure_node_server()
    if args.profile_dir and not find_py_spy():
        p.error("--profile-dir needs py-spy (pip install py-spy==0.4.3)")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    results = []
    for n in counts:
        for kind in [k for _ in range(args.rounds) for k in kinds]:
            print(f"# {kind}: {n} clients ({n // ROOM_SIZE} rooms)...", file=sys.stderr, flush=True)
            r = run_step(kind, n, args)
            lat = r["latency_ms"]
            print(
                f"#   p50 {fmt(lat['p50'], 2)} ms p99 {fmt(lat['p99'], 2)} ms, "
                f"{fmt(r['cpu_us_per_delivery'])} µs/delivery, errors {r['errors_total']}",
                file=sys.stderr,
                flush=True,
            )
            results.append(r)
    names = NAMES
    rows = []
    for r in results:
        lat = r["latency_ms"]
        rows.append(
            [
                names[r["server"]],
                r["clients"],
                r["connected"],
                fmt(lat["p50"], 2),
                fmt(lat["p99"], 2),
                fmt(lat["max"], 1),
                fmt(r["delivered_per_s"], 0),
                fmt(r["cpu_us_per_delivery"], 1),
                f"{fmt(r['server_cpu_pct'], 0)} ({fmt(r['server_cpu_user_pct'], 0)}/"
                f"{fmt(r['server_cpu_sys_pct'], 0)})",
                fmt(r["server_rss_mb"], 0),
                fmt(r["generator_cpu_pct"], 0),
                "/".join(fmt(x, 0) for x in r["core_busy_pct"]),
                r["errors_total"],
            ]
        )
    print()
    print(common.machine_line(info))
    print(f"Draftroom code: {common.source_revision(args.source)}")
    print(
        f"Rooms of {ROOM_SIZE}, 20% of clients typing one insert every {args.interval_ms:g} ms; "
        "server pinned to core 0, generator processes on core 1 (cores busy % = "
        f"machine-wide busy per core, incl. other processes); {args.warmup:g}s warm-up, "
        f"{args.duration:g}s measured per step; connect rate {args.connect_rate:g}/s.\n"
    )
    print(
        markdown_table(
            [
                "server",
                "clients",
                "connected",
                "p50 ms",
                "p99 ms",
                "max ms",
                "deliveries/s",
                "CPU µs/delivery",
                "server CPU % (usr/sys)",
                "server RSS MB",
                "generator CPU %",
                "cores busy %",
                "errors",
            ],
            rows,
        )
    )
    if args.rounds > 1 and len(kinds) > 1:
        print()
        print(paired_table(results, kinds, counts))
    for r in results:
        if r["other_load_core0_pct"] > 10:
            print(
                f"\nWARNING {names[r['server']]} @ {r['clients']}: other processes used "
                f"{r['other_load_core0_pct']:.0f}% of the server's core during the window; "
                "latency and CPU figures are perturbed."
            )
    for r in results:
        if r["errors_total"]:
            print(f"\n{names[r['server']]} @ {r['clients']}: errors {r['errors']}")
        if r["profile"]:
            prof = r["profile"]
            print(
                f"\npy-spy, Draftroom @ {r['clients']} clients ({prof.get('samples')} samples, "
                f"{prof['file']}): top self time"
            )
            for f, pct in prof["self"]:
                print(f"  {pct:5.1f}%  {f}")
            print("top inclusive:")
            for f, pct in prof["inclusive"]:
                print(f"  {pct:5.1f}%  {f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": info, "args": vars(args), "results": results}, indent=2, default=str
            )
        )
    return common.exit_status(
        [
            reason
            for r in results
            for reason in common.load_failures(
                f"{names[r['server']]} @ {r['clients']}",
                wanted=r["clients"],
                connected=r["connected"],
                measured=r["delivered_window"],
                errors_total=r["errors_total"],
                errors=r["errors"],
            )
        ]
    )


if __name__ == "__main__":
    sys.exit(main())

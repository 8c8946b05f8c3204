"""Record a load ramp on a real node, then replay it through the shipped HPA.

The HorizontalPodAutoscaler in deploy/kubernetes/base/hpa.yaml scales on CPU and on
``draftroom_websocket_connections`` per pod (prometheus-adapter:
``sum(draftroom_websocket_connections{pod=...}) by (pod)``). Whether its thresholds and
windows scale up in time and hold still while the load wobbles is a property of the
numbers the node really exports under a real ramp, so this:

1. starts one node (SQLite, pinned like every benchmark; admission limits off: the node
   carries the whole fleet's load, which the replay then shares over the pods);
2. drives clients through a ramp up, a dip (people leave for lunch and come back), and a
   ramp down to nothing: ``--peak`` connections at the top, ``--typing`` of them typing
   one keystroke every ``--interval`` seconds; loopback only, bounded in count and time;
3. samples each second what the adapter rule reads (the sum of the node's
   ``draftroom_websocket_connections`` series on GET /metrics) and the node process's
   CPU (cores, from /proc through psutil), and saves the trace as JSON;
4. replays the trace through bench/hpa_replay.py (the controller's algorithm with the
   shipped manifest): per pod, connections are total / ready pods and CPU is the
   node's idle CPU plus the busy CPU above idle shared over the ready pods. After the
   recording the trace is held at its last value for ``--tail`` seconds so the
   scale-down window can run out.

Reports the time from the load crossing the threshold (settled min replicas would be
asked to grow) to the first scale-up decision, the replica counts, the direction
changes and flaps. Exits 1 if the load did not run (fewer connections than asked, or the
threshold never crossed), the scale-up came later than the scale-up window + the metric
delay (the ServiceMonitor's interval) + one 15 s sync period, a direction change came
within the scale-down window of the previous one (a flap), or the fleet did not return
to minReplicas.

    .venv/bin/python bench/hpa_record.py --json trace.json       # record (~4 min) + replay
    .venv/bin/python bench/hpa_record.py --replay trace.json     # replay a saved trace
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import common
import hpa_replay
import psutil
from common import EMPTY_STATE_VECTOR, MSG_SYNC, WSClient, ws_connect
from pycrdt import Doc, Text

from draftroom.crdt.protocol import SyncType
from draftroom.crdt.protocol import encode_sync as sync_frame

HPA_PATH = common.REPO / "deploy" / "kubernetes" / "base" / "hpa.yaml"
MONITOR_PATH = common.REPO / "deploy" / "kubernetes" / "base" / "servicemonitor.yaml"
METRIC = "draftroom_websocket_connections"

# (seconds, fraction of --peak at the end of the segment): up, hold, a dip to 60 % and
# back (the dip is what tempts an autoscaler to flap), down, idle.
SHAPE = [(5, 0.0), (60, 1.0), (20, 1.0), (10, 0.6), (20, 0.6), (10, 1.0), (20, 1.0),
         (60, 0.0), (15, 0.0)]  # fmt: skip


def scaled(shape: list[tuple[int, float]], speed: float) -> list[tuple[int, float]]:
    return [(max(1, round(s / speed)), level) for s, level in shape]


def level_at(t: float, shape: list[tuple[int, float]]) -> float:
    start, level = 0.0, 0.0
    for seconds, end in shape:
        if t < start + seconds:
            return level + (end - level) * (t - start) / seconds
        start, level = start + seconds, end
    return level


class Client:
    __slots__ = ("conn", "doc", "gone", "idx", "text", "typing")

    def __init__(self, idx: int, typing: bool) -> None:
        self.idx = idx
        self.gone = False
        self.typing = typing
        self.conn: WSClient | None = None
        self.doc: Doc[Any] | None = Doc() if typing else None
        self.text: Text | None = self.doc.get("text", type=Text) if self.doc else None


_EMPTY: Doc[Any] = Doc()


def on_message(ws: WSClient, frame: bytes) -> None:
    c: Client = ws.user
    if frame[0] == MSG_SYNC and frame[1] == SyncType.STEP1:
        doc = c.doc or _EMPTY
        ws.send(sync_frame(SyncType.STEP2, doc.get_update(common.sync_payload(frame))))


async def connect(c: Client, port: int, docs: int, failures: list[str]) -> None:
    try:
        ws = await ws_connect(
            common.LOOPBACK, port, f"/ws/hpa-{c.idx % docs}?draftroom=1", on_message,
            user=c, timeout=10,
        )  # fmt: skip
    except (OSError, TimeoutError) as e:
        failures.append(type(e).__name__)
        return
    if c.gone:  # left while still connecting
        ws.close()
        return
    ws.send(sync_frame(SyncType.STEP1, EMPTY_STATE_VECTOR))
    c.conn = ws


async def type_loop(c: Client, interval: float, rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(0, interval))
    while c.conn is not None and not c.conn.closed and not c.gone:
        assert c.doc is not None and c.text is not None
        before = c.doc.get_state()
        c.text.insert(len(c.text), "x")
        c.conn.send(sync_frame(SyncType.UPDATE, c.doc.get_update(before)))
        await asyncio.sleep(interval)


def scrape(port: int) -> float:
    """What prometheus-adapter's rule computes for this pod: the sum of the series."""
    url = f"http://{common.LOOPBACK}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(METRIC) and (line[len(METRIC)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def drive(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    rng = random.Random(args.seed)
    proc = psutil.Process(pid)
    clients: list[Client] = []
    tasks: set[asyncio.Task[None]] = set()
    failures: list[str] = []
    samples: list[dict[str, float]] = []
    shape = scaled(SHAPE, args.speed)
    duration = sum(s for s, _ in shape)
    next_idx = 0

    async def sampler(stop: asyncio.Event) -> None:
        begin = t0 = time.monotonic()
        cpu0 = sum(proc.cpu_times()[:2])
        n = 0
        while not stop.is_set():
            n += 1
            await asyncio.sleep(max(0.0, begin + n - time.monotonic()))
            now = time.monotonic()
            cpu = sum(proc.cpu_times()[:2])
            conns = await asyncio.to_thread(scrape, port)
            samples.append(
                {
                    "t": round(now - start, 3),
                    "target": round(level_at(now - start, shape) * args.peak),
                    "open": sum(1 for c in clients if c.conn is not None and not c.conn.closed),
                    "connections": conns,
                    "cpu_cores": round((cpu - cpu0) / (now - t0), 4),
                }
            )
            t0, cpu0 = now, cpu

    start = time.monotonic()
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler(stop))
    pending: list[asyncio.Task[None]] = []
    while (elapsed := time.monotonic() - start) < duration:
        want = round(level_at(elapsed, shape) * args.peak)
        pending = [p for p in pending if not p.done()]
        while len(clients) < want and len(pending) < 200:
            c = Client(next_idx, rng.random() < args.typing)
            next_idx += 1
            clients.append(c)
            pending.append(asyncio.create_task(connect(c, port, args.docs, failures)))
            if c.typing:
                task = asyncio.create_task(_type_when_open(c, args.interval, rng))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        while len(clients) > want:
            c = clients.pop()  # the newest leave first
            c.gone = True
            if c.conn is not None:
                c.conn.close()
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # one more sample of the idle node
    stop.set()
    await sampling
    for c in clients:
        if c.conn is not None:
            c.conn.close()
    for task in list(tasks):
        task.cancel()
    return {"samples": samples, "connect_failures": len(failures), "clients_started": next_idx}


async def _type_when_open(c: Client, interval: float, rng: random.Random) -> None:
    for _ in range(200):
        if c.conn is not None or c.gone:
            break
        await asyncio.sleep(0.05)
    await type_loop(c, interval, rng)


def by_second(samples: list[dict[str, float]]) -> list[dict[str, float]]:
    """One sample per whole second (the latest one taken by then): a late sample (the
    generator's loop was busy) must not shift the rest of the trace in time."""
    out: list[dict[str, float]] = []
    i = 0
    for second in range(int(samples[-1]["t"]) + 1):
        while i + 1 < len(samples) and samples[i + 1]["t"] <= second:
            i += 1
        out.append(samples[i])
    return out


def idle_cores(samples: list[dict[str, float]]) -> float:
    quiet = sorted(s["cpu_cores"] for s in samples if s["target"] == 0)
    return quiet[len(quiet) // 2] if quiet else 0.0


def replay_trace(trace: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    hpa = hpa_replay.load_hpa(Path(args.hpa))
    if args.scale_down_window is not None:  # a what-if: the shipped HPA without its window
        down = hpa.scale_down
        hpa = dataclasses.replace(
            hpa, scale_down=hpa_replay.Rules(args.scale_down_window, down.select, down.policies)
        )
    samples = trace["samples"]
    idle = idle_cores(samples)
    per_second = by_second(samples)
    conns = [s["connections"] for s in per_second]
    busy = [max(0.0, s["cpu_cores"] - idle) for s in per_second]
    conns += [conns[-1]] * args.tail
    busy += [busy[-1]] * args.tail
    model = hpa_replay.PodModel(
        idle_cpu_cores=idle,
        metric_delay_s=monitor_interval_s(),
        cpu_request_cores=pod_cpu_request(),
    )
    shipped = hpa_replay.load_hpa(Path(args.hpa))
    result = hpa_replay.replay(hpa, conns, busy, model, flap_window_s=args.flap_window)
    misses = hpa_replay.verdict(result, shipped, model)
    peak = max(conns, default=0.0)
    if peak < 0.9 * args.peak:
        misses.insert(0, f"the load did not run: peak {peak:.0f} connections of {args.peak}")
    return {
        "hpa": str(args.hpa),
        "scale_down_window_s": hpa.scale_down.window_s,
        "model": model.__dict__,
        "idle_cpu_cores": idle,
        "peak_connections": peak,
        "peak_cpu_cores": max(s["cpu_cores"] for s in samples),
        "threshold_crossed_at_s": result.crossed_at,
        "first_scale_up_at_s": result.first_up_at,
        "scale_up_delay_s": result.scale_up_delay_s,
        "in_time_limit_s": hpa_replay.in_time_limit_s(hpa, model),
        "decisions": result.decisions,
        "max_replicas": result.max_replicas,
        "direction_changes": result.direction_changes,
        "flaps": result.flaps,
        "underprovisioned_s": result.short_s,
        "longest_underprovisioned_s": result.longest_short_s,
        "misses": misses,
    }


def monitor_interval_s() -> float:
    import yaml

    doc = yaml.safe_load(MONITOR_PATH.read_text())
    return float(str(doc["spec"]["endpoints"][0].get("interval", "30s")).rstrip("s"))


def pod_cpu_request() -> float:
    import yaml

    doc = yaml.safe_load((HPA_PATH.parent / "deployment.yaml").read_text())
    request = doc["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    return hpa_replay._quantity(request)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--peak", type=int, default=4500, help="connections at the top of the ramp")
    p.add_argument("--typing", type=float, default=0.05, help="fraction of clients typing")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between keystrokes")
    p.add_argument("--docs", type=int, default=450)
    p.add_argument("--tail", type=int, default=900, help="seconds the last sample is held")
    p.add_argument("--hpa", default=str(HPA_PATH))
    p.add_argument(
        "--flap-window",
        type=float,
        default=300.0,
        help="a scale reversed within this many seconds of the one before is a flap",
    )
    p.add_argument(
        "--scale-down-window",
        type=int,
        help="what-if: replay with this scaleDown stabilizationWindowSeconds instead",
    )
    p.add_argument("--speed", type=float, default=1.0, help="run the shape this much faster")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the trace and the replay here")
    p.add_argument("--replay", help="replay this saved trace instead of recording one")
    args = p.parse_args(argv)

    if args.replay:
        trace = json.loads(Path(args.replay).read_text())
        args.peak = trace.get("peak", args.peak)
    else:
        common.pin_generator()
        workdir = Path(tempfile.mkdtemp(prefix="draftroom-bench-hpa-"))
        (workdir / "data").mkdir()
        port = common.free_port()
        node = common.draftroom_server(
            port=port,
            data_dir=workdir / "data",
            log_dir=workdir,
            extra=["--max-connections", "0", "--max-loop-lag-ms", "0"],
        )
        load_before = os.getloadavg()
        try:
            node.start()
            assert node.proc is not None
            recorded = asyncio.run(drive(args, port, node.proc.pid))
        finally:
            node.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        trace = {
            "machine": common.machine_info(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "peak": args.peak,
            "typing": args.typing,
            "interval_s": args.interval,
            "docs": args.docs,
            "shape": scaled(SHAPE, args.speed),
            **recorded,
        }
    report = replay_trace(trace, args)
    summary = {k: v for k, v in report.items() if k != "decisions"}
    print(json.dumps(summary, indent=2, default=str))
    print("decisions (t, from, to):", report["decisions"])
    if args.json:
        Path(args.json).write_text(json.dumps({**trace, "replay": report}, indent=1, default=str))
    misses = report["misses"]
    print("OK" if not misses else "MISS: " + "; ".join(misses), file=sys.stderr)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())

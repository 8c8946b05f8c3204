"""One bounded, headless Draftroom load test: cluster + Locust (distributed) + probe.

    .venv/bin/python loadtests/run.py                       # 2,000 users, 2 nodes, 60 s
    .venv/bin/python loadtests/run.py --users 200 --duration 20 --profile 0

1. Starts ``deploy/cluster.py``'s ``Cluster`` (throwaway PostgreSQL + Redis + N
   ``draftroom serve`` nodes + HAProxy, all on 127.0.0.1); passes ``--allow-anonymous``
   to the nodes when ``draftroom serve --help`` offers it. Pins every node thread to
   ``--server-cpus`` and the load generators to ``--gen-cpus`` (default: nodes on core 0,
   Locust + probe + py-spy on core 1; PostgreSQL and Redis float).
2. Runs Locust headless and distributed (``--processes``), users connecting to the
   nodes directly (user k -> node k % N; HAProxy is bypassed), ramping at
   ``--spawn-rate``, then holding for ``--settle`` + ``--duration`` seconds.
3. Runs loadtests/probe.py concurrently; its measurement window is the steady state
   (after the ramp and the settle time) and lasts ``--duration`` seconds. Node CPU and
   RSS are sampled over the same window (psutil); ``--profile S`` records node 0 with
   py-spy for S seconds inside the window (``--nonblocking``, raw collapsed stacks) and
   reports the hottest functions.
4. Stops everything it started (by PID / its own process groups), prints a Markdown
   summary and writes ``summary.json`` (plus Locust CSVs, probe JSON, profile) to --out.

Every wait is bounded; the whole run is capped by --timeout (default: the planned
length + 180 s).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

from devtools.cluster import Cluster
from devtools.process import busy_cpu_seconds as busy_cpu
from devtools.process import parse_cpus as cpus
from devtools.process import pin_tree, tree_cpu_seconds
from devtools.process import rss_of as rss

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BIN = Path(sys.executable).parent
TARGET_MS = 100.0


# --- helpers -------------------------------------------------------------------------------


def tree_cpu(pid: int | None) -> float:
    # Locust's worker processes come and go: count what the exited ones used too
    return tree_cpu_seconds(pid, reaped_children=True)


def established(pid: int, port: int) -> int:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return -1
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def stop_group(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM then SIGKILL the process group of a child we started in its own session."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def fmt(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def serve_flags() -> str:
    try:
        return subprocess.run(
            [str(BIN / "draftroom"), "serve", "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


# --- Locust / profile output ---------------------------------------------------------------


def read_locust(prefix: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"stats": {}, "failures": []}
    stats = prefix.with_name(prefix.name + "_stats.csv")
    if stats.exists():
        with stats.open() as f:
            for row in csv.DictReader(f):
                name = row["Name"]
                entry: dict[str, Any] = {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "avg": float(row["Average Response Time"] or 0),
                    "max": float(row["Max Response Time"] or 0),
                }
                for p in ("50%", "95%", "99%", "99.9%"):
                    v = row.get(p, "N/A")
                    entry["p" + p.rstrip("%")] = None if v in ("N/A", "", None) else float(v)
                out["stats"][name] = entry
    failures = prefix.with_name(prefix.name + "_failures.csv")
    if failures.exists():
        with failures.open() as f:
            for row in csv.DictReader(f):
                out["failures"].append(
                    {"name": row["Name"], "error": row["Error"], "count": int(row["Occurrences"])}
                )
    return out


def summarize_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    """py-spy --format raw: 'frame;frame;... count' lines -> self / inclusive shares."""
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0, "self": [], "inclusive": []}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        self_c[frames[-1]] += n
        for fr in set(frames):
            incl_c[fr] += n
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}
    return {
        "samples": total,
        "self": [(f, round(100.0 * n / total, 1)) for f, n in self_c.most_common(top)],
        "inclusive": [(f, round(100.0 * n / total, 1)) for f, n in incl_c.most_common(top + 15)],
    }


# --- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--duration", type=float, default=60.0, help="steady-state seconds measured")
    p.add_argument(
        "--processes", type=int, default=0, help="Locust processes (0: max(2, users/1000))"
    )
    p.add_argument("--spawn-rate", type=float, default=100.0, help="users per second")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after the ramp, unmeasured")
    p.add_argument("--room-size", type=int, default=5)
    p.add_argument("--typing-interval-ms", type=float, default=300.0)
    p.add_argument("--awareness-interval-s", type=float, default=3.0)
    p.add_argument("--probe-rooms", type=int, default=8, help="probe rooms (x room size clients)")
    p.add_argument("--server-cpus", default="0", help="cores for the nodes ('' = no pinning)")
    p.add_argument("--gen-cpus", default="1", help="cores for Locust/probe ('' = no pinning)")
    p.add_argument("--profile", type=float, default=15.0, help="py-spy seconds on node 0 (0: off)")
    p.add_argument(
        "--profile-native",
        action="store_true",
        help="py-spy --native (sees into uvloop/pycrdt; pauses the node per sample)",
    )
    p.add_argument("--node-arg", action="append", default=[], help="extra `draftroom serve` arg")
    p.add_argument("--out", default="", help="output folder (default /tmp/draftroom-loadtest-<ts>)")
    p.add_argument("--timeout", type=float, default=0, help="hard cap, seconds")
    a = p.parse_args(argv)

    ts = time.strftime("%Y%m%d-%H%M%S")
    out = Path(a.out or f"/tmp/draftroom-loadtest-{ts}")
    out.mkdir(parents=True, exist_ok=True)
    processes = a.processes or max(2, math.ceil(a.users / 1000))
    ramp = a.users / a.spawn_rate
    locust_time = math.ceil(ramp + a.settle + a.duration + 5)
    cap = a.timeout or (locust_time + 180)
    t_begin = time.monotonic()
    server_cores, gen_cores = cpus(a.server_cpus), cpus(a.gen_cpus)
    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
        f"on {os.cpu_count()} cores; output in {out}",
        flush=True,
    )
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print("WARNING: the machine is already busy; latency numbers will be noisy", flush=True)

    node_args: list[str] = []
    help_text = serve_flags()
    if "--allow-anonymous" in help_text:
        node_args.append("--allow-anonymous")
    node_args += a.node_arg

    if gen_cores:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, gen_cores)

    locust_exe = BIN / "locust"
    if not locust_exe.exists():
        # Without Locust the run would measure only the probe's few clients and look fine.
        print(
            f"FAILED: {locust_exe} not found: install the bench extra "
            "(pip install -e '.[bench]') to get Locust",
            file=sys.stderr,
        )
        return 2

    taskset_gen = (
        ["taskset", "-c", ",".join(map(str, gen_cores))]
        if gen_cores and shutil.which("taskset")
        else []
    )
    cluster = Cluster(a.nodes, None, tuple(node_args))
    locust: subprocess.Popen[bytes] | None = None
    probe: subprocess.Popen[bytes] | None = None
    pyspy: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "users": a.users, "nodes": a.nodes, "duration_s": a.duration, "ramp_s": ramp,
        "settle_s": a.settle, "processes": processes, "room_size": a.room_size,
        "typists_pct": 100.0 / a.room_size, "typing_interval_ms": a.typing_interval_ms,
        "awareness_interval_s": a.awareness_interval_s, "node_args": node_args,
        "server_cpus": server_cores, "gen_cpus": gen_cores, "load_before": load_before,
    }  # fmt: skip
    try:
        cluster.start()
        print(f"cluster up in {time.monotonic() - t_begin:.1f} s: "
              + ", ".join(f"node{i} :{n.port} pid {n.pid}" for i, n in enumerate(cluster.nodes)),
              flush=True)  # fmt: skip
        for n in cluster.nodes:
            pin_tree(n.pid, server_cores)
        hosts = ",".join(n.ws_base for n in cluster.nodes)
        prefix = out / "locust"
        doc_prefix = f"lt{ts}"
        locust_cmd = [
            *taskset_gen, str(locust_exe), "-f", str(HERE / "locustfile.py"),
            "--headless", "--processes", str(processes), "-u", str(a.users),
            "-r", str(a.spawn_rate), "-t", f"{locust_time}s", "--stop-timeout", "5",
            "--host", cluster.nodes[0].ws_base, "--ws-hosts", hosts,
            "--room-size", str(a.room_size), "--typist-every", str(a.room_size),
            "--typing-interval-ms", str(a.typing_interval_ms),
            "--awareness-interval-s", str(a.awareness_interval_s),
            "--doc-prefix", doc_prefix, "--csv", str(prefix), "--only-summary",
            "--exit-code-on-error", "0", "--loglevel", "WARNING",
        ]  # fmt: skip
        probe_cmd = [
            *taskset_gen, sys.executable, str(HERE / "probe.py"), "--hosts", hosts,
            "--rooms", str(a.probe_rooms), "--room-size", str(a.room_size),
            "--interval-ms", str(a.typing_interval_ms),
            "--awareness-s", str(a.awareness_interval_s),
            "--start-delay", str(ramp + a.settle), "--duration", str(a.duration),
            "--doc-prefix", f"probe{ts}", "--json", str(out / "probe.json"),
            "--pg-url", cluster.postgres_url,
        ]  # fmt: skip
        result["commands"] = {"locust": locust_cmd, "probe": probe_cmd}
        locust_log = (out / "locust.log").open("wb")
        probe_log = (out / "probe.log").open("wb")
        t0 = time.monotonic()
        locust = subprocess.Popen(locust_cmd, stdout=locust_log, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=REPO)  # fmt: skip
        probe = subprocess.Popen(probe_cmd, stdout=probe_log, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=REPO)  # fmt: skip
        print(f"locust ({processes} processes, {a.users} users at {a.spawn_rate:g}/s, "
              f"{locust_time} s) and probe started; window {ramp + a.settle:.0f}-"
              f"{ramp + a.settle + a.duration:.0f} s", flush=True)  # fmt: skip

        # sample the nodes over the probe's window
        win_start = t0 + ramp + a.settle
        win_end = win_start + a.duration
        peak_rss = [0] * len(cluster.nodes)
        while time.monotonic() < win_start and time.monotonic() - t_begin < cap:
            for i, n in enumerate(cluster.nodes):
                peak_rss[i] = max(peak_rss[i], rss(n.pid))
            time.sleep(0.5)
        for n in cluster.nodes:  # threads started during the ramp (executors) too
            pin_tree(n.pid, server_cores)
        cpu0 = [tree_cpu(n.pid) for n in cluster.nodes]
        svc_pids = {"postgres": cluster.postgres.pid if cluster.postgres else None,
                    "redis": cluster.redis.pid if cluster.redis else None}  # fmt: skip
        svc0 = {k: tree_cpu(v) for k, v in svc_pids.items()}
        gen0 = tree_cpu(locust.pid) + tree_cpu(probe.pid)
        sys0 = busy_cpu()
        w0 = time.monotonic()
        conns: list[int] | None = None
        spy = str(BIN / "py-spy") if (BIN / "py-spy").exists() else shutil.which("py-spy")
        if a.profile > 0 and spy:
            # start a few seconds into the window, so the profile is steady state
            time.sleep(min(3.0, a.duration / 4))
            mode = ["--native"] if a.profile_native else ["--nonblocking"]
            pyspy_cmd = [*taskset_gen, spy, "record", *mode, "--function",
                         "--format", "raw", "-r", "100", "-d", str(int(a.profile)),
                         "-o", str(out / "profile-node0.txt"),
                         "--pid", str(cluster.nodes[0].pid)]  # fmt: skip
            result["commands"]["py-spy"] = pyspy_cmd
            pyspy = subprocess.Popen(pyspy_cmd, stdout=(out / "py-spy.log").open("wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        series: list[dict[str, Any]] = []
        last = (time.monotonic(), busy_cpu(), [tree_cpu(n.pid) for n in cluster.nodes])
        while time.monotonic() < win_end and time.monotonic() - t_begin < cap:
            for i, n in enumerate(cluster.nodes):
                peak_rss[i] = max(peak_rss[i], rss(n.pid))
            if time.monotonic() - last[0] >= 5.0:  # 5 s buckets, aligned with the probe's
                now = (time.monotonic(), busy_cpu(), [tree_cpu(n.pid) for n in cluster.nodes])
                dt = now[0] - last[0]
                pairs = zip(last[2], now[2], strict=True)
                series.append({
                    "t": round(last[0] - w0, 1),
                    "machine_busy_pct": round(100 * (now[1] - last[1]) / dt),
                    "nodes_cpu_pct": [round(100 * (y - x) / dt) for x, y in pairs],
                })  # fmt: skip
                last = now
            if conns is None and time.monotonic() - w0 > a.duration / 2:
                conns = [established(n.pid, n.port) for n in cluster.nodes]
            time.sleep(0.5)
        conns = conns or [established(n.pid, n.port) for n in cluster.nodes]
        w = time.monotonic() - w0
        cpu1 = [tree_cpu(n.pid) for n in cluster.nodes]
        svc1 = {k: tree_cpu(v) for k, v in svc_pids.items()}
        gen1 = tree_cpu(locust.pid) + tree_cpu(probe.pid)
        sys1 = busy_cpu()
        ours = sum(cpu1) - sum(cpu0) + sum(svc1.values()) - sum(svc0.values()) + gen1 - gen0
        if pyspy is not None:
            ours += tree_cpu(pyspy.pid)
        result["server"] = [
            {"node": i, "pid": n.pid, "port": n.port, "cpu_pct": 100 * (cpu1[i] - cpu0[i]) / w,
             "rss_mb_end": rss(n.pid) / 2**20, "rss_mb_peak": peak_rss[i] / 2**20,
             "ws_connections_mid_window": conns[i]}
            for i, n in enumerate(cluster.nodes)
        ]  # fmt: skip
        result["services_cpu_pct"] = {k: 100 * (svc1[k] - svc0[k]) / w for k in svc0}
        result["generators_cpu_pct"] = 100 * (gen1 - gen0) / w
        result["load_during"] = os.getloadavg()
        result["series_5s"] = series
        result["machine_busy_pct"] = 100 * (sys1 - sys0) / w
        result["other_processes_cpu_pct"] = max(0.0, 100 * (sys1 - sys0 - ours) / w)

        # wait for the children (bounded)
        for name, proc, extra in (
            ("locust", locust, 60),
            ("probe", probe, 60),
            ("py-spy", pyspy, 30),
        ):
            if proc is None:
                continue
            left = max(
                5.0,
                min(
                    cap - (time.monotonic() - t_begin),
                    (t0 + locust_time + extra) - time.monotonic(),
                ),
            )
            try:
                proc.wait(left)
            except subprocess.TimeoutExpired:
                print(f"{name} still running after the plan; stopping it", flush=True)
                stop_group(proc)
        locust_log.close()
        probe_log.close()
        result["exit_codes"] = {"locust": locust.returncode, "probe": probe.returncode}
    finally:
        for proc in (pyspy, probe, locust):
            stop_group(proc)
        cluster.stop()

    result["locust"] = read_locust(out / "locust")
    try:
        result["probe"] = json.loads((out / "probe.json").read_text())
    except (OSError, ValueError) as exc:
        result["probe"] = {"error": f"no probe result: {exc}"}
    if a.profile > 0:
        result["profile"] = summarize_collapsed(out / "profile-node0.txt")
    result["wall_s"] = time.monotonic() - t_begin
    (out / "summary.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = render(result)
    (out / "summary.md").write_text(md + "\n")
    print(md)
    print(f"\nfiles: {out}/summary.json, summary.md, locust_*.csv, probe.json, profile-node0.txt")
    reasons = failures(result)
    for reason in reasons:
        print(f"FAILED: {reason}", file=sys.stderr)
    return 1 if reasons else 0


def failures(r: dict[str, Any]) -> list[str]:
    """Why this run does not meet its target; empty when it does.

    A load test passes only on evidence: every requested Locust user connected and synced,
    the generators exited cleanly, nothing failed, and the probe measured both latencies
    under the target. Missing numbers are a failure, never a pass.
    """
    out: list[str] = []
    users = int(r["users"])
    for name, code in (r.get("exit_codes") or {"locust": None, "probe": None}).items():
        if code is None:
            out.append(f"{name} did not finish (no exit code)")
        elif code != 0:
            out.append(f"{name} exited with {code} (see {name}.log)")
    st = (r.get("locust") or {}).get("stats") or {}
    for event, verb in (("connect", "connected"), ("sync", "synced")):
        d = st.get(event) or {}
        ok = int(d.get("requests", 0)) - int(d.get("failures", 0))
        if ok < users:
            out.append(f"only {ok:,} of {users:,} Locust users {verb}")
    fails = sum(int(v.get("failures", 0)) for k, v in st.items() if k != "Aggregated")
    if fails:
        out.append(f"{fails:,} Locust failures")
    pr = r.get("probe") or {}
    if "error" in pr:
        out.append(str(pr["error"]))
    clients, connected = pr.get("clients"), pr.get("connected")
    if not clients or connected != clients:
        out.append(f"probe clients synced: {connected} of {clients}")
    if pr.get("errors"):
        out.append(f"probe errors: {json.dumps(pr['errors'])}")
    for key in ("acks_missing", "deliveries_missing"):
        if pr.get(key) != 0:
            out.append(f"probe {key.replace('_', ' ')}: {pr.get(key)}")
    for key, label in (("ack_ms", "save ack"), ("delivery_ms", "delivery")):
        p99 = (pr.get(key) or {}).get("p99")
        if p99 is None:
            out.append(f"no probe {label} latency measured")
        elif p99 >= TARGET_MS:
            out.append(f"probe {label} p99 {p99:.1f} ms >= {TARGET_MS:g} ms")
    return out


def render(r: dict[str, Any]) -> str:
    L: list[str] = []
    st = r["locust"]["stats"]
    pr = r.get("probe", {})
    conn = st.get("connect", {})
    sync = st.get("sync", {})
    fails = sum(v["failures"] for k, v in st.items() if k != "Aggregated")
    L.append(f"## Draftroom load test, {r['date']}")
    L.append("")
    L.append(
        f"{r['users']:,} Locust users on {r['nodes']} nodes "
        f"(direct, user k -> node k % {r['nodes']}), "
        f"rooms of {r['room_size']}, {r['typists_pct']:.0f}% typing every "
        f"{r['typing_interval_ms']:g} ms, awareness every ~{r['awareness_interval_s']:g} s; "
        f"ramp {r['ramp_s']:.0f} s + settle {r['settle_s']:.0f} s, then {r['duration_s']:.0f} s "
        f"measured; {r['processes']} Locust processes; nodes pinned to cores {r['server_cpus']}, "
        f"generators to {r['gen_cpus']}. Load average before: {r['load_before'][0]:.2f}, "
        f"during: {r.get('load_during', [float('nan')])[0]:.2f}."
    )
    L.append("")
    L.append("### Errors")
    L.append("")
    rows = [
        [
            "Locust connects ok / failed",
            f"{conn.get('requests', 0) - conn.get('failures', 0):,} / {conn.get('failures', 0):,}",
        ],
        [
            "Locust synced ok / failed",
            f"{sync.get('requests', 0) - sync.get('failures', 0):,} / {sync.get('failures', 0):,}",
        ],
        ["Locust failures (all events)", f"{fails:,}"],
        ["probe clients synced", f"{pr.get('connected', 'n/a')} / {pr.get('clients', 'n/a')}"],
        ["probe errors", json.dumps(pr.get("errors", {})) or "{}"],
        ["probe acks missing", fmt(pr.get("acks_missing"))],
        ["probe deliveries missing", fmt(pr.get("deliveries_missing"))],
    ]
    L.append(table(["what", "value"], rows))
    for f in r["locust"]["failures"][:10]:
        L.append(f"- Locust failure `{f['name']}` x{f['count']}: {f['error'][:200]}")
    L.append("")
    L.append("### Latency (ms)")
    L.append("")
    rows = []
    for key, label in (
        ("ack_ms", "probe save ack"),
        (
            "delivery_ms",
            "probe delivery (cross-node)"
            if pr.get("cross_node_delivery")
            else "probe delivery (same node)",
        ),
    ):
        d = pr.get(key) or {}
        ok = d.get("p99") is not None and d["p99"] < TARGET_MS
        rows.append(
            [
                label,
                fmt(d.get("n")),
                fmt(d.get("p50")),
                fmt(d.get("p95")),
                fmt(d.get("p99")),
                fmt(d.get("max")),
                "yes" if ok else "NO",
            ]
        )
    for node, d in sorted((pr.get("node_rtt_ms") or {}).items()):
        rows.append(
            [
                f"probe {node} RTT (query-awareness, no storage)",
                fmt(d.get("n")),
                fmt(d.get("p50")),
                fmt(d.get("p95")),
                fmt(d.get("p99")),
                fmt(d.get("max")),
                "",
            ]
        )
    d = pr.get("pg_commit_ms") or {}
    if d.get("n"):
        rows.append(
            [
                "PostgreSQL 1-row INSERT+COMMIT (probe)",
                fmt(d.get("n")),
                fmt(d.get("p50")),
                fmt(d.get("p95")),
                fmt(d.get("p99")),
                fmt(d.get("max")),
                "",
            ]
        )
    d = pr.get("probe_loop_lag_ms") or {}
    if d:
        rows.append(
            [
                "probe's own loop lag (10 ms timer)",
                fmt(d.get("n")),
                fmt(d.get("p50")),
                fmt(d.get("p95")),
                fmt(d.get("p99")),
                fmt(d.get("max")),
                "",
            ]
        )
    for name in ("ack", "delivery", "sync", "connect"):
        d = st.get(name)
        if d:
            rows.append(
                [
                    f"Locust {name} (inflated)",
                    fmt(d["requests"]),
                    fmt(d.get("p50")),
                    fmt(d.get("p95")),
                    fmt(d.get("p99")),
                    fmt(d.get("max")),
                    "",
                ]
            )
    L.append(table(["measure", "n", "p50", "p95", "p99", "max", "p99 < 100 ms"], rows))
    L.append("")
    L.append(
        "Probe numbers are the steady-state window only; Locust numbers cover the whole run (ramp "
        "included) and carry Locust's own scheduling delay (~18 ms floor, more when its processes "
        "are busy): use them for errors and trends, not for the target."
    )
    L.append("")
    ser = (pr.get("series_5s") or {}).get("delivery") or []
    if ser:
        L.append(
            "Probe cross-node delivery per 5 s of the window (p50 / p99 / max ms): "
            + ", ".join(f"{fmt(x['p50'], 0)}/{fmt(x['p99'], 0)}/{fmt(x['max'], 0)}" for x in ser)
        )
        L.append("")
    if r.get("series_5s"):
        L.append("Machine busy % (of 200) / nodes' CPU % per 5 s of the window: " + ", ".join(
            f"{x['machine_busy_pct']}/{'+'.join(map(str, x['nodes_cpu_pct']))}"
            for x in r["series_5s"]))  # fmt: skip
        L.append("")
    L.append("### Server (over the measured window)")
    L.append("")
    rows = [
        [
            f"node{s['node']}",
            f"{s['cpu_pct']:.0f}%",
            f"{s['rss_mb_end']:.0f}",
            f"{s['rss_mb_peak']:.0f}",
            fmt(s["ws_connections_mid_window"]),
        ]
        for s in r.get("server", [])
    ]
    L.append(
        table(["node", "CPU %", "RSS MB (end)", "RSS MB (peak)", "WebSockets (mid-window)"], rows)
    )
    svc = r.get("services_cpu_pct", {})
    L.append("")
    L.append(
        f"PostgreSQL CPU {svc.get('postgres', float('nan')):.0f}%, "
        f"Redis CPU {svc.get('redis', float('nan')):.0f}%, load generators (Locust + probe) "
        f"CPU {r.get('generators_cpu_pct', float('nan')):.0f}% (100% = one core). "
        f"Whole machine busy {r.get('machine_busy_pct', float('nan')):.0f}% of "
        f"{100 * (os.cpu_count() or 1)}%, of which other people's processes "
        f"{r.get('other_processes_cpu_pct', float('nan')):.0f}%."
    )
    prof = r.get("profile")
    if prof and prof.get("samples"):
        L.append("")
        L.append(f"### Profile of node0 (py-spy, {prof['samples']:,} active samples)")
        L.append("")
        L.append(
            table(["self %", "function"], [[f"{v:.1f}", f"`{k}`"] for k, v in prof["self"][:12]])
        )
        L.append("")
        L.append(
            table(
                ["inclusive %", "function"],
                [[f"{v:.1f}", f"`{k}`"] for k, v in prof["inclusive"][:20]],
            )
        )
    reasons = failures(r)
    L.append("")
    L.append(
        "**Target (every user connected and synced, 0 errors, probe p99 ack and delivery "
        f"< 100 ms): {'NOT MET' if reasons else 'MET'}**"
    )
    L.extend(f"- {reason}" for reason in reasons)
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())

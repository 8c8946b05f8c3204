"""A bounded fault suite: real PostgreSQL, Redis, two nodes and HAProxy, all on loopback.

    .venv/bin/python loadtests/chaos.py                        # every scenario, ~3 min
    .venv/bin/python loadtests/chaos.py --only redis-hung,f1-compaction --json out.json

Each scenario runs writers that type numbered markers and remember which ones the
server acknowledged, plus one reader socket per node (keeping the document open
there, which is where a stale copy would live). Then it injects one fault, ends
it, and measures:

- **acked**: markers acknowledged over the scenario;
- **lost**: acknowledged markers missing from the store afterwards, read straight
  from PostgreSQL (must be 0);
- **convergence**: seconds from the end of the fault until every node serves every
  marker acknowledged by then, to its sockets and on ``GET …/content`` (must be < 5);
- **readiness**: ``/readyz`` of every node, polled throughout: the fault shows
  where it should (degraded for the bus, 503 for the store) and every node is
  ``ready`` again within 5 s of the fault's end.

Everything is bounded: each loop has a count or a deadline, every scenario has a
time limit, and the whole run ``--timeout``. Only processes this script started are
signalled or stopped, by PID. Exit status 1 if any scenario fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from pycrdt import Text

from devtools.cluster import Cluster
from draftroom.client import DraftroomClient
from draftroom.document.load import build_doc
from draftroom.store.postgres import PostgresStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CONVERGE_WITHIN = 5.0
COMPACT_AFTER = 100
DRAIN_SECONDS = 3.0
NODE_ARGS = (
    "--allow-anonymous",
    "--catchup-seconds", "1",
    "--compact-after", str(COMPACT_AFTER),
    "--drain-seconds", str(DRAIN_SECONDS),
)  # fmt: skip


def now() -> float:
    return time.monotonic()


# -- clients ------------------------------------------------------------------------


class Writer:
    """Types markers into one document, reconnecting (a new client each time, as a
    reloaded page would) whenever its socket closes. Remembers what was acknowledged."""

    def __init__(self, name: str, doc: str, url: Callable[[], str]) -> None:
        self.name = name
        self.doc = doc
        self.url = url
        self.sessions: list[tuple[DraftroomClient, dict[int, str]]] = []
        self.close_codes: Counter[int | None] = Counter()
        self.count = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, interval: float = 0.02, limit: float = 120.0) -> Writer:
        self._task = asyncio.get_running_loop().create_task(self._run(interval, limit))
        return self

    async def connect(self) -> DraftroomClient:
        client = DraftroomClient(self.url() + "/" + self.doc, connect_timeout=3)
        await client.connect()
        self.sessions.append((client, {}))
        return client

    def type(self, client: DraftroomClient) -> int:
        marker = f"<{self.name}-{self.count}>"
        self.count += 1
        upto = client.insert(marker)
        self.sessions[-1][1][upto] = marker
        return upto

    async def _run(self, interval: float, limit: float) -> None:
        deadline = now() + limit
        while not self._stop.is_set() and now() < deadline:
            try:
                client = await self.connect()
            except Exception:  # refused, no server behind the LB, closed while syncing
                await asyncio.sleep(0.3)
                continue
            while client.close_code is None and not self._stop.is_set() and now() < deadline:
                with contextlib.suppress(Exception):
                    self.type(client)
                await asyncio.sleep(interval)
            if client.close_code is not None:
                self.close_codes[client.close_code] += 1

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        if self.sessions:  # let the last acknowledgements arrive
            client, sent = self.sessions[-1]
            if sent and client.close_code is None:
                with contextlib.suppress(Exception):
                    await client.wait_saved(max(sent), within=5)
        for client, _ in self.sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 3)

    def acked(self) -> set[str]:
        return {
            marker
            for client, sent in self.sessions
            for upto, marker in sent.items()
            if upto <= client.saved_upto
        }


class Reader:
    """One socket on one node, reopened if it closes; keeps the room open there."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: DraftroomClient | None = None

    async def text(self) -> str:
        if self.client is None or self.client.close_code is not None:
            try:
                self.client = DraftroomClient(self.url, connect_timeout=2)
                await self.client.connect()
            except Exception:
                self.client = None
                return ""
        return str(self.client.text)

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 3)


# -- observation ----------------------------------------------------------------------


@dataclass
class Readiness:
    """/readyz of every node, every 250 ms: (time, node, HTTP status or 0, status)."""

    samples: list[tuple[float, int, int, str]] = field(default_factory=list)

    async def poll(self, cluster: Cluster, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._poll(i, cluster, stop) for i in range(len(cluster.nodes))))

    async def _poll(self, i: int, cluster: Cluster, stop: asyncio.Event) -> None:
        # A request every 250 ms per node, not waiting for the previous one: a
        # /readyz held up by a stalled store must not hide what comes next. Each
        # waits longer than /readyz's own store ping timeout (2 s).
        async with httpx.AsyncClient(timeout=4) as http:
            asks: list[asyncio.Task[None]] = []
            while not stop.is_set():
                asks.append(asyncio.get_running_loop().create_task(self._ask(http, i, cluster)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
            await asyncio.gather(*asks)

    async def _ask(self, http: httpx.AsyncClient, i: int, cluster: Cluster) -> None:
        try:
            r = await http.get(f"{cluster.nodes[i].http_url}/readyz")
            self.samples.append((now(), i, r.status_code, r.json().get("status", "")))
        except (httpx.HTTPError, ValueError):
            self.samples.append((now(), i, 0, "unreachable"))

    def seen(self, start: float, end: float, status: str, node: int | None = None) -> bool:
        return any(
            start <= t <= end and s == status and (node is None or n == node)
            for t, n, _, s in self.samples
        )

    def ready_again(self, after: float, nodes: int) -> float | None:
        """Seconds after ``after`` from which every node answered ready, to the end."""
        last_bad = after
        for t, _, _, s in self.samples:
            if t >= after and s != "ready":
                last_bad = t
        good = [n for t, n, _, s in self.samples if t > last_bad and s == "ready"]
        return last_bad - after if len(set(good)) == nodes else None


@dataclass
class Result:
    scenario: str
    acked: int
    lost: int
    convergence_s: float | None
    readiness_during: str
    ready_after_s: float | None
    ok: bool
    notes: str = ""

    def row(self) -> str:
        conv = "never" if self.convergence_s is None else f"{self.convergence_s:.2f} s"
        after = "no" if self.ready_after_s is None else f"yes ({self.ready_after_s:.1f} s)"
        return (
            f"| {self.scenario} | {self.acked} | {self.lost} | {conv} | "
            f"{self.readiness_during} | {after} | {'pass' if self.ok else 'FAIL'} |"
        )


async def content(http: httpx.AsyncClient, base: str, doc: str) -> str:
    try:
        r = await http.get(f"{base}/api/documents/{doc}/content")
        return str(r.json().get("text", "")) if r.status_code == 200 else ""
    except (httpx.HTTPError, ValueError):
        return ""


async def converge(
    cluster: Cluster, doc: str, readers: list[Reader], markers: set[str], since: float
) -> float | None:
    """Seconds from ``since`` until every node serves every marker (None: not in 15 s)."""
    async with httpx.AsyncClient(timeout=2) as http:
        while now() - since < 15:
            texts = [await reader.text() for reader in readers]
            texts += [await content(http, node.http_url, doc) for node in cluster.nodes]
            if all(all(m in text for m in markers) for text in texts):
                return now() - since
            await asyncio.sleep(0.1)
    return None


async def stored_text(cluster: Cluster, doc: str) -> str:
    store = PostgresStore(cluster.postgres_url, min_pool=1, max_pool=1)
    await store.open()
    try:
        state = await store.load(doc)
    finally:
        await store.close()
    return str(build_doc(state.snapshot, state.updates).get("text", type=Text))


# -- scenarios ------------------------------------------------------------------------


@dataclass
class Plan:
    """What a scenario expects of readiness while its fault lasts."""

    during: str  # "degraded", "unavailable", "draining", "ready" (nothing to notice)
    node: int | None = None  # only this node is expected to show it


Fault = Callable[["Run"], Awaitable[None]]


class Run:
    """One scenario: writers, readers, a readiness poller, and the fault's timestamps."""

    def __init__(self, cluster: Cluster, doc: str) -> None:
        self.cluster = cluster
        self.doc = doc
        self.fault_start = 0.0
        self.fault_end = 0.0
        self.notes: list[str] = []
        self.writers: list[Writer] = []

    def node_url(self, i: int) -> Callable[[], str]:
        return lambda: self.cluster.nodes[i].ws_base

    def lb_url(self) -> Callable[[], str]:
        return lambda: self.cluster.ws_base


def _signal_group(pid: int | None, sig: int) -> None:
    if pid is not None:
        os.killpg(pid, sig)  # the service's own process group (it runs in a new session)


def _signal_postgres(pid: int | None, sig: int) -> None:
    """PostgreSQL backends leave the postmaster's process group (setsid), so a
    stall signals the postmaster (first, so it forks no one) and its children."""
    if pid is None:
        return
    postmaster = psutil.Process(pid)
    targets = [postmaster, *postmaster.children(recursive=True)]
    for process in targets if sig == signal.SIGSTOP else reversed(targets):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)


async def _steady_writers(run: Run) -> None:
    run.writers = [
        Writer("a", run.doc, run.lb_url()).start(),
        Writer("b", run.doc, run.lb_url()).start(),
    ]


async def kill9_node(run: Run) -> None:
    await _steady_writers(run)
    await asyncio.sleep(2)
    run.fault_start = now()
    run.cluster.nodes[1].kill9()
    await asyncio.sleep(3)
    await asyncio.to_thread(run.cluster.nodes[1].start)
    run.fault_end = now()


async def redis_down(run: Run, seconds: float = 5.0) -> None:
    await _steady_writers(run)
    await asyncio.sleep(2)
    redis = run.cluster.redis
    assert redis is not None
    run.fault_start = now()
    await asyncio.to_thread(redis.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(redis.start)
    run.fault_end = now()


async def redis_hung(run: Run, seconds: float = 8.0) -> None:
    await _steady_writers(run)
    await asyncio.sleep(2)
    redis = run.cluster.redis
    assert redis is not None
    run.fault_start = now()
    _signal_group(redis.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        _signal_group(redis.pid, signal.SIGCONT)
    run.fault_end = now()


async def redis_flushed(run: Run) -> None:
    await _steady_writers(run)
    await asyncio.sleep(2)
    redis = run.cluster.redis
    assert redis is not None
    run.fault_start = now()
    await asyncio.to_thread(redis.command, "FLUSHALL")
    run.fault_end = now()


async def postgres_stalled(run: Run, seconds: float = 7.0) -> None:
    await _steady_writers(run)
    await asyncio.sleep(2)
    postgres = run.cluster.postgres
    assert postgres is not None
    run.fault_start = now()
    _signal_postgres(postgres.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        _signal_postgres(postgres.pid, signal.SIGCONT)
    run.fault_end = now()


async def f1_compaction(run: Run) -> None:
    """Redis down while one node's writes cross the compaction threshold, so the
    snapshot folds every update the other node missed; then nobody edits again."""
    writer = Writer("f1", run.doc, run.node_url(0))
    run.writers = [writer]
    client = await writer.connect()
    await client.wait_saved(writer.type(client))
    await asyncio.sleep(0.5)  # the reader on node 1 has it via the bus
    redis = run.cluster.redis
    assert redis is not None
    run.fault_start = now()
    await asyncio.to_thread(redis.stop)
    for _ in range(COMPACT_AFTER - 1):  # the last one triggers a compaction of them all
        await client.wait_saved(writer.type(client))
    await asyncio.sleep(1.0)  # the compaction commits
    await asyncio.to_thread(redis.start)
    run.fault_end = now()


async def sigterm_store_stall(run: Run) -> None:
    run.writers = [Writer("s", run.doc, run.node_url(0)).start()]
    await asyncio.sleep(2)
    postgres = run.cluster.postgres
    assert postgres is not None
    node = run.cluster.nodes[0]
    run.fault_start = now()
    _signal_postgres(postgres.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(1.0)
        started = now()
        code = await asyncio.to_thread(node.terminate, 30.0)
        took = now() - started
        run.notes.append(f"node exited {code} in {took:.1f} s (drain {DRAIN_SECONDS:.0f} s)")
        logs = node.stdout_path.read_text(errors="replace") + node.stderr_path.read_text(
            errors="replace"
        )
        run.notes += [line.strip()[:160] for line in logs.splitlines() if "drain:" in line][-2:]
        if took > DRAIN_SECONDS + 6.5:  # the documented bound, plus signal delivery
            run.notes.append("FAIL: shutdown exceeded its deadline")
    finally:
        _signal_postgres(postgres.pid, signal.SIGCONT)
    await asyncio.to_thread(node.start)
    run.fault_end = now()
    codes = run.writers[0].close_codes
    if codes.get(1011):
        run.notes.append(f"FAIL: {codes[1011]} sockets closed with 1011")
    if not codes.get(1012):
        run.notes.append(f"FAIL: no socket closed with 1012 ({dict(codes)})")


SCENARIOS: dict[str, tuple[Fault, Plan]] = {
    "kill9-node": (kill9_node, Plan("unreachable", node=1)),
    "redis-down": (redis_down, Plan("degraded")),
    "redis-hung": (redis_hung, Plan("degraded")),
    "redis-flushed": (redis_flushed, Plan("ready")),
    "postgres-stalled": (postgres_stalled, Plan("unavailable")),
    "f1-compaction": (f1_compaction, Plan("degraded")),
    "sigterm-store-stall": (sigterm_store_stall, Plan("draining", node=0)),
}


async def run_scenario(cluster: Cluster, name: str, fault: Fault, plan: Plan) -> Result:
    doc = f"chaos-{name}-{int(time.time())}"
    run = Run(cluster, doc)
    readers = [Reader(f"{node.ws_base}/{doc}") for node in cluster.nodes]
    for reader in readers:
        await reader.text()
    readiness = Readiness()
    stop_polling = asyncio.Event()
    poller = asyncio.get_running_loop().create_task(readiness.poll(cluster, stop_polling))
    try:
        await fault(run)
        acked_at_end = set().union(*(w.acked() for w in run.writers))
        convergence = await converge(cluster, doc, readers, acked_at_end, run.fault_end)
        # Keep sampling readiness: until every node has been ready for a second
        # (or the 5 s allowed for it, plus that second, are over).
        while now() < run.fault_end + CONVERGE_WITHIN + 1:
            back = readiness.ready_again(run.fault_end, len(cluster.nodes))
            if back is not None and now() > run.fault_end + back + 1:
                break
            await asyncio.sleep(0.25)
    finally:
        for writer in run.writers:
            await writer.stop()
        stop_polling.set()
        await poller
        for reader in readers:
            await reader.close()
    acked = set().union(*(w.acked() for w in run.writers))
    stored = await stored_text(cluster, doc)
    lost = sum(1 for m in acked if m not in stored)
    during = readiness.seen(run.fault_start, run.fault_end + 0.5, plan.during, plan.node)
    ready_after = readiness.ready_again(run.fault_end, len(cluster.nodes))
    ok = (
        lost == 0
        and bool(acked)
        and convergence is not None
        and convergence < CONVERGE_WITHIN
        and during
        and ready_after is not None
        and ready_after < CONVERGE_WITHIN
        and not any(n.startswith("FAIL") for n in run.notes)
    )
    return Result(
        scenario=name,
        acked=len(acked),
        lost=lost,
        convergence_s=convergence,
        readiness_during=f"{plan.during}{'' if plan.node is None else f' (node {plan.node})'}"
        + ("" if during else ": NOT SEEN"),
        ready_after_s=ready_after,
        ok=ok,
        notes="; ".join(run.notes),
    )


def ensure_up(cluster: Cluster) -> None:
    """Between scenarios: every service and node running again."""
    if cluster.postgres is not None and cluster.postgres.running:
        _signal_postgres(cluster.postgres.pid, signal.SIGCONT)
    for service in (cluster.postgres, cluster.redis):
        if service is not None and service.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGCONT)
        if service is not None and not service.running:
            service.start()
    for node in cluster.nodes:
        if not node.running:
            node.start()


def _quiet_closed_sends(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # A writer's send racing its socket's close (the fault itself) is expected.
    if isinstance(context.get("exception"), websockets.ConnectionClosed):
        return
    loop.default_exception_handler(context)


async def run_all(cluster: Cluster, names: list[str], limit: float = 90.0) -> list[Result]:
    asyncio.get_running_loop().set_exception_handler(_quiet_closed_sends)
    results = []
    for name in names:
        fault, plan = SCENARIOS[name]
        await asyncio.to_thread(ensure_up, cluster)
        await asyncio.sleep(1.5)  # HAProxy sees every node healthy again
        try:
            result = await asyncio.wait_for(run_scenario(cluster, name, fault, plan), limit)
        except TimeoutError:
            result = Result(name, 0, 0, None, "?", None, False, f"timed out after {limit:.0f} s")
        print(result.row(), result.notes, flush=True)
        results.append(result)
    await asyncio.to_thread(ensure_up, cluster)
    return results


HEADER = (
    "| fault | acknowledged markers | lost | convergence after the fault | "
    "readiness during | ready after | result |\n|---|---|---|---|---|---|---|"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ", ".join(SCENARIOS)
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--timeout", type=float, default=900.0, help="the whole run's limit")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    cluster = Cluster(nodes=2, node_args=NODE_ARGS).start()
    print(HEADER, flush=True)
    try:
        results = asyncio.run(asyncio.wait_for(run_all(cluster, names), args.timeout))
    finally:
        cluster.stop()
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    print("\n" + HEADER)
    for result in results:
        print(result.row())
    failed = [r.scenario for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} scenarios passed" + (
        f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""A local Draftroom cluster: PostgreSQL, Redis, N nodes and HAProxy, all on loopback.

    python deploy/cluster.py --nodes 3 --started 2 --port 8080 [--pgbouncer]

Everything runs in a temporary folder and stops on Ctrl-C or SIGTERM. deploy/cluster.py,
the cluster tests and the load test all use this ``Cluster``, built on the same process
managers as the test fixtures (which start PostgreSQL as the postgres user when run as root).
Nodes are added and removed while it runs, as an autoscaler would: ``start_node`` starts
one that HAProxy already lists, ``stop_node`` sends one SIGTERM (its drain) and returns
its exit status; deploy/cluster.py's console does the same with ``add`` and ``remove``.
``pgbouncer=True`` puts pgbouncer (transaction mode) between the nodes and PostgreSQL,
as in production.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devtools.draftroom import DraftroomProcess
from devtools.pgbouncer import PgBouncer
from devtools.postgres import PostgresServer
from devtools.process import ManagedProcess, ServiceError, free_port, port_open
from devtools.redis import RedisServer

# The HAProxy configuration is a deployment file: it stays in deploy/ next to its docs.
TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg.template"
PROXY_SOURCE = "127.0.0.2"  # HAProxy's address towards the nodes, trusted for X-Forwarded-For


class LoadBalancer(ManagedProcess):
    """HAProxy in the foreground (-db) with the deploy/ configuration, nodes as backends."""

    name = "haproxy"

    def __init__(self, node_ports: list[int], port: int | None, workdir: Path) -> None:
        super().__init__()
        exe = shutil.which("haproxy")
        if exe is None:
            raise ServiceError("haproxy not found: apt-get install haproxy")
        self.exe = exe
        self.port = port or free_port()
        self.config = workdir / "haproxy.cfg"
        servers = "\n".join(
            f"    server node{i} 127.0.0.1:{p} check" for i, p in enumerate(node_ports)
        )
        self.config.write_text(
            TEMPLATE.read_text().format(port=self.port, servers=servers, proxy_source=PROXY_SOURCE)
        )
        self.log = workdir / "haproxy.log"

    def start(self) -> None:
        self._spawn([self.exe, "-db", "-f", str(self.config)], log_path=self.log)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if not self.running or time.monotonic() > deadline:
                self._kill_group()
                raise ServiceError(f"haproxy did not start.\n{self.describe_logs()}")
            time.sleep(0.05)

    def stop(self) -> None:
        try:
            self._stop_gracefully(signal.SIGTERM, 10)
        except ServiceError:
            pass  # it was SIGKILLed: nothing is left to stop


class Cluster:
    def __init__(
        self,
        nodes: int = 3,
        port: int | None = None,
        node_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        started: int | None = None,
        pgbouncer: bool = False,
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="draftroom-cluster-"))
        self.postgres = None if postgres_url else PostgresServer()
        self.redis = None if redis_url else RedisServer()
        self._postgres_url = postgres_url
        self._redis_url = redis_url
        self.pgbouncer: PgBouncer | None = None
        self._with_pgbouncer = pgbouncer
        self.size = nodes
        # Nodes started with the cluster; the rest are in HAProxy's list, down until
        # start_node() (a scale-out while the cluster runs).
        self.started = nodes if started is None else started
        self.port = port
        self.node_args = node_args
        self.env = env or {}
        self.nodes: list[DraftroomProcess] = []
        self.lb: LoadBalancer | None = None

    @property
    def postgres_url(self) -> str:
        return self._postgres_url or self.postgres.url  # type: ignore[union-attr]

    @property
    def database_url(self) -> str:
        """What the nodes use: pgbouncer's address when it is in front of PostgreSQL."""
        if self.pgbouncer is None:
            return self.postgres_url
        name = self.postgres_url.rsplit("/", 1)[-1]
        return self.pgbouncer.database_url(name) + "?pgbouncer=true"

    @property
    def redis_url(self) -> str:
        return self._redis_url or self.redis.url  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        assert self.lb is not None
        return f"http://127.0.0.1:{self.lb.port}"

    @property
    def ws_base(self) -> str:
        assert self.lb is not None
        return f"ws://127.0.0.1:{self.lb.port}/ws"

    def start(self) -> Cluster:
        try:
            if self.postgres is not None:
                self.postgres.start()
            if self.redis is not None:
                self.redis.start()
            if self._with_pgbouncer:
                port = urllib.parse.urlsplit(self.postgres_url).port or 5432
                self.pgbouncer = PgBouncer(port).start()
            for i in range(self.size):
                node = DraftroomProcess(
                    (
                        "--database-url",
                        self.database_url,
                        "--redis-url",
                        self.redis_url,
                        "--forwarded-allow-ips",
                        PROXY_SOURCE,
                        *self.node_args,
                    ),
                    env=self.env,
                    data_dir=self.workdir / f"node{i}" / "data",
                    log_dir=self.workdir / f"node{i}" / "logs",
                )
                self.nodes.append(node)
            # Side by side: a node spends its start-up importing and waiting, and the
            # store serialises migrations between nodes that start together.
            _each(DraftroomProcess.start, self.nodes[: self.started])
            self.lb = LoadBalancer([n.port for n in self.nodes], self.port, self.workdir)
            self.lb.start()
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, i: int) -> DraftroomProcess:
        """Start a node that was left down; HAProxy sends it clients once /readyz passes."""
        return self.nodes[i].start()

    def stop_node(self, i: int, timeout: float = 30.0) -> int | None:
        """SIGTERM node ``i`` (a scale-in) and wait for it to exit; returns its exit
        status (0 after a complete drain). It stays in HAProxy's list, failing /readyz,
        so ``start_node(i)`` brings it back."""
        return self.nodes[i].terminate(timeout)

    def command(self, line: str) -> str:
        """deploy/cluster.py's console: ``add`` starts the first node that is down,
        ``remove`` drains the last one running, ``status`` lists them."""
        word = line.strip().lower()
        up = [i for i, n in enumerate(self.nodes) if n.running]
        down = [i for i, n in enumerate(self.nodes) if not n.running]
        if word == "add":
            if not down:
                return f"all {len(self.nodes)} nodes run; start the cluster with more --nodes"
            node = self.start_node(down[0])
            return f"node{down[0]} started: {node.http_url} (pid {node.pid})"
        if word == "remove":
            if len(up) < 2:
                return "the last node stays; Ctrl-C stops the cluster"
            started = time.monotonic()
            code = self.stop_node(up[-1])
            took = time.monotonic() - started
            return f"node{up[-1]} drained and exited with status {code} in {took:.1f} s"
        if word == "status":
            return "\n".join(
                f"node{i}: {n.http_url} {'up, pid ' + str(n.pid) if n.running else 'down'}"
                for i, n in enumerate(self.nodes)
            )
        return "commands: add, remove, status"

    def stop(self) -> None:
        if self.lb is not None:
            self.lb.stop()
        _each(DraftroomProcess.cleanup, self.nodes)
        for service in (self.pgbouncer, self.redis, self.postgres):
            if service is not None:
                service.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _each(method: Callable[[DraftroomProcess], object], nodes: list[DraftroomProcess]) -> None:
    """Call ``method`` on every node at once, in threads; re-raise the first failure."""
    with ThreadPoolExecutor(max(len(nodes), 1)) as pool:
        for done in [pool.submit(method, node) for node in nodes]:
            done.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3, help="nodes HAProxy knows")
    parser.add_argument(
        "--started", type=int, help="nodes started at first (default: all); `add` starts more"
    )
    parser.add_argument("--port", type=int, default=8080, help="the load balancer's port")
    parser.add_argument(
        "--pgbouncer", action="store_true", help="nodes reach PostgreSQL through pgbouncer"
    )
    parser.add_argument("node_args", nargs="*", help="extra `draftroom serve` options")
    args = parser.parse_args(argv)
    cluster = Cluster(
        args.nodes,
        args.port,
        tuple(args.node_args),
        started=args.started,
        pgbouncer=args.pgbouncer,
    )
    cluster.start()
    print(f"Draftroom cluster: {cluster.url} (WebSocket {cluster.ws_base}/<doc>)")
    print(cluster.command("status"))
    print(f"  PostgreSQL: {cluster.postgres_url}\n  Redis: {cluster.redis_url}")
    if cluster.pgbouncer is not None:
        print(f"  pgbouncer: {cluster.database_url}")
    print(
        "Type add (start a node that is down), remove (SIGTERM the last node up: it "
        "drains) or status. Ctrl-C stops everything.",
        flush=True,
    )
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # The console reads in a thread so that a signal still ends the main loop.
    commands: queue.Queue[str] = queue.Queue()

    def read_console() -> None:
        for line in sys.stdin:
            commands.put(line)

    threading.Thread(target=read_console, daemon=True).start()
    try:
        while not stop:
            with contextlib.suppress(queue.Empty):
                print(cluster.command(commands.get(timeout=0.2)), flush=True)
    finally:
        cluster.stop()
    return 0

"""A local Draftroom cluster: PostgreSQL, Redis, N nodes and HAProxy, all on loopback.

    python deploy/cluster.py --nodes 3 --port 8080

Everything runs in a temporary folder and stops on Ctrl-C or SIGTERM. deploy/cluster.py,
the cluster tests and the load test all use this ``Cluster``, built on the same process
managers as the test fixtures (which start PostgreSQL as the postgres user when run as root).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devtools.draftroom import DraftroomProcess
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
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="draftroom-cluster-"))
        self.postgres = None if postgres_url else PostgresServer()
        self.redis = None if redis_url else RedisServer()
        self._postgres_url = postgres_url
        self._redis_url = redis_url
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
            for i in range(self.size):
                node = DraftroomProcess(
                    (
                        "--database-url",
                        self.postgres_url,
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

    def stop(self) -> None:
        if self.lb is not None:
            self.lb.stop()
        _each(DraftroomProcess.cleanup, self.nodes)
        for service in (self.redis, self.postgres):
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
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--port", type=int, default=8080, help="the load balancer's port")
    parser.add_argument("node_args", nargs="*", help="extra `draftroom serve` options")
    args = parser.parse_args(argv)
    cluster = Cluster(args.nodes, args.port, tuple(args.node_args)).start()
    print(f"Draftroom cluster: {cluster.url} (WebSocket {cluster.ws_base}/<doc>)")
    for i, node in enumerate(cluster.nodes):
        print(f"  node{i}: {node.http_url} (pid {node.pid}, logs {node.log_dir})")
    print(f"  PostgreSQL: {cluster.postgres_url}\n  Redis: {cluster.redis_url}")
    print("Ctrl-C stops everything.")
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        cluster.stop()
    return 0

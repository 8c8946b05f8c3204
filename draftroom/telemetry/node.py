"""Telemetry as a feature of one node: gauges read from the node at collection time,
the event-loop lag histogram (fed by the node's one sampler, ``draftroom.loop_lag``),
and a task that checks the store is reachable.

``middleware(settings)`` sets up the SDK (once per process) and gives the ASGI
middleware for the composition root; ``Telemetry(node, lag)`` is the feature.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from starlette.middleware import Middleware

from draftroom.config import Settings
from draftroom.features import BaseFeature
from draftroom.loop_lag import LoopLag
from draftroom.node import Node
from draftroom.telemetry import metrics, sdk, tracing
from draftroom.telemetry.errors import ErrorLogCounter, ErrorMiddleware

log = logging.getLogger(__name__)

PING_EVERY = 10.0


def middleware(settings: Settings) -> list[Middleware]:
    """Configure the SDK and tracing; the ASGI middleware, outermost first."""
    state = sdk.configure(settings)
    tracing.configure(state.tracing, settings.trace_edit_ratio)
    root = logging.getLogger()
    if not any(isinstance(h, ErrorLogCounter) for h in root.handlers):
        root.addHandler(ErrorLogCounter())
    stack = [Middleware(ErrorMiddleware)]
    if state.tracing:
        from draftroom.telemetry.asgi import TracingMiddleware

        stack.insert(0, Middleware(TracingMiddleware))
    return stack


class Telemetry(BaseFeature):
    def __init__(
        self, node: Node, lag: LoopLag, dropped_events: Callable[[], int] | None = None
    ) -> None:
        self.node = node
        self.loop_lag = lag
        self._unsubscribe: Callable[[], None] | None = None
        # Events analytics had to drop (its buffer was full); None when it is off.
        self._dropped_events = dropped_events
        self.store_up = 1.0
        self._task: asyncio.Task[None] | None = None
        self._sources = {
            "connections": self._connections,
            "rooms": self._rooms,
            "db_pool": self._db_pool,
            "up": self._up,
            "bus_reconnects": self._bus_reconnects,
            "bus_dropped": self._bus_dropped,
            "analytics_dropped": self._analytics_dropped,
        }

    async def start(self) -> None:
        for name, source in self._sources.items():
            metrics.add_gauge_source(name, source)
        self._unsubscribe = self.loop_lag.subscribe(metrics.instruments().loop_lag.record)
        self._task = asyncio.get_running_loop().create_task(self._monitor(), name="telemetry")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for name, source in self._sources.items():
            metrics.remove_gauge_source(name, source)

    async def _monitor(self) -> None:
        """Store reachability, for the ``up`` gauge."""
        while True:
            try:
                await asyncio.wait_for(self.node.store.ping(), 5)
                self.store_up = 1.0
            except Exception:
                self.store_up = 0.0
            await asyncio.sleep(PING_EVERY)

    # -- gauge sources (run at collection time, never on the edit path) -----------

    def _connections(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(len(self.node.connections), {})]

    def _rooms(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(len(self.node.rooms), {})]

    def _db_pool(self) -> Iterable[tuple[float, dict[str, str]]]:
        stats = self.node.store.stats()
        pools = [
            ("draftroom", stats.pool_size, stats.pool_idle),
            # Apart, so an operator sees searches holding all of theirs (waits, 503s)
            # while saves still have connections.
            ("draftroom-search", stats.search_pool_size, stats.search_pool_idle),
        ]
        out: list[tuple[float, dict[str, str]]] = []
        for pool, size, idle in pools:
            if size is None or idle is None:
                continue
            name = {"db.client.connection.pool.name": pool}
            out.append((size - idle, {**name, "db.client.connection.state": "used"}))
            out.append((idle, {**name, "db.client.connection.state": "idle"}))
        return out

    def _up(self) -> Iterable[tuple[float, dict[str, str]]]:
        healthy, _ = self.node.bus.status()
        store = {"draftroom.dependency": "store", "draftroom.store": self.node.store.dialect}
        bus = {"draftroom.dependency": "bus", "draftroom.bus": type(self.node.bus).__name__}
        return [(self.store_up, store), (1.0 if healthy else 0.0, bus)]

    def _bus_reconnects(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(getattr(self.node.bus, "reconnects", 0), {})]

    def _bus_dropped(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(getattr(self.node.bus, "dropped", 0), {})]

    def _analytics_dropped(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(self._dropped_events() if self._dropped_events else 0, {})]

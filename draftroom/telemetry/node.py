"""Wiring telemetry into one node: ``install(app, hub)`` from the app factory.

Sets up the SDK (once per process), adds the ASGI instrumentation, and on hub
start registers the group-commit observer, the gauges read from the hub at
collection time, analytics, and a monitor task (event-loop lag, store reachability).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from draftroom.telemetry import metrics, sdk, tracing
from draftroom.telemetry.analytics import Analytics
from draftroom.telemetry.errors import ErrorLogCounter, ErrorMiddleware

if TYPE_CHECKING:
    from draftroom.server.hub import Hub

log = logging.getLogger(__name__)

ERASE = "analytics.erase"
LAG_INTERVAL = 0.5
PING_EVERY = 10.0

_nodes: weakref.WeakKeyDictionary[Hub, NodeTelemetry] = weakref.WeakKeyDictionary()


def analytics_for(hub: Hub) -> Analytics | None:
    """The node's analytics recorder (None when analytics is off or not started)."""
    node = _nodes.get(hub)
    return node.analytics if node is not None else None


async def erase_user(hub: Hub, user: str) -> int:
    """Delete a user's analytics events, and make every node drop its buffered ones.

    Returns how many stored events were deleted (0 when analytics is off)."""
    analytics = analytics_for(hub)
    if analytics is None:
        return 0
    hub.broadcast_control({"type": ERASE, "user": user})
    return await analytics.erase_user(user)


def install(app: Starlette, hub: Hub) -> None:
    settings = hub.settings
    state = sdk.configure(settings)
    tracing.configure(state.tracing, settings.trace_edit_ratio)
    app.add_middleware(ErrorMiddleware)
    if state.tracing:
        from draftroom.telemetry.asgi import TracingMiddleware

        app.add_middleware(TracingMiddleware)
    root = logging.getLogger()
    if not any(isinstance(h, ErrorLogCounter) for h in root.handlers):
        root.addHandler(ErrorLogCounter())
    node = NodeTelemetry(hub)
    _nodes[hub] = node
    hub.on_start.append(node.start)
    hub.on_stop.append(node.stop)


class NodeTelemetry:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.analytics: Analytics | None = None
        self.store_up = 1.0
        self._task: asyncio.Task[None] | None = None
        self._erasures: set[asyncio.Task[int]] = set()
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
        settings = self.hub.settings
        for name, source in self._sources.items():
            metrics.add_gauge_source(name, source)
        if settings.analytics:
            self.analytics = Analytics(
                self.hub.store.sql,
                retention_days=settings.analytics_retention_days,
                flush_seconds=settings.analytics_flush_seconds,
            )
            self.analytics.start()
            self.hub.control_handlers[ERASE] = self._on_erase
        self._task = asyncio.get_running_loop().create_task(self._monitor(), name="telemetry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.analytics is not None:
            await self.analytics.stop()
        for name, source in self._sources.items():
            metrics.remove_gauge_source(name, source)

    def _on_erase(self, data: dict[str, object]) -> None:
        # Another node erased a user: drop our buffered events and delete again once
        # any flush in progress has landed.
        user = data.get("user")
        if self.analytics is not None and isinstance(user, str):
            task = asyncio.get_running_loop().create_task(self.analytics.erase_user(user))
            self._erasures.add(task)
            task.add_done_callback(self._erasures.discard)

    async def _monitor(self) -> None:
        """Event-loop lag (how late a short sleep wakes up) and store reachability."""
        lag = metrics.instruments().loop_lag
        next_ping = 0.0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(LAG_INTERVAL)
            overshoot = max(0.0, time.perf_counter() - before - LAG_INTERVAL)
            lag.record(overshoot)
            if time.monotonic() >= next_ping:
                next_ping = time.monotonic() + PING_EVERY
                try:
                    await asyncio.wait_for(self.hub.store.ping(), 5)
                    self.store_up = 1.0
                except Exception:
                    self.store_up = 0.0

    # -- gauge sources (run at collection time, never on the edit path) -----------

    def _connections(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(len(self.hub.connections), {})]

    def _rooms(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(len(self.hub.rooms.rooms), {})]

    def _db_pool(self) -> Iterable[tuple[float, dict[str, str]]]:
        stats = self.hub.store.stats()
        if stats.pool_size is None or stats.pool_idle is None:
            return []
        size, idle = stats.pool_size, stats.pool_idle
        name = {"db.client.connection.pool.name": "draftroom"}
        return [
            (size - idle, {**name, "db.client.connection.state": "used"}),
            (idle, {**name, "db.client.connection.state": "idle"}),
        ]

    def _up(self) -> Iterable[tuple[float, dict[str, str]]]:
        healthy, _ = self.hub.bus.status()
        store = {"draftroom.dependency": "store", "draftroom.store": self.hub.store.dialect}
        bus = {"draftroom.dependency": "bus", "draftroom.bus": type(self.hub.bus).__name__}
        return [(self.store_up, store), (1.0 if healthy else 0.0, bus)]

    def _bus_reconnects(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(getattr(self.hub.bus, "reconnects", 0), {})]

    def _bus_dropped(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(getattr(self.hub.bus, "dropped", 0), {})]

    def _analytics_dropped(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(self.analytics.dropped if self.analytics else 0, {})]

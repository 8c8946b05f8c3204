"""The node's one event-loop-lag sampler, read by every feature that needs the lag.

Lag is how late a short timer wakes up: a loop that wakes late delays every frame of
every writer on the node. Admission control needs it every fraction of a second for
its limits, and telemetry records it into a histogram. Each used to run its own timer;
two timers cost two wake-ups and, worse, could disagree about the same stall. The
node owns this one and starts it after its features; a feature that wants the lag is
handed the sampler by the composition root and subscribes to it, so either feature
works with the other turned off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Fine enough to catch a 100 ms stall, which is what admission's limits are about.
INTERVAL = 0.1

LagListener = Callable[[float], None]


class LoopLag:
    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._listeners: list[LagListener] = []

    def subscribe(self, listener: LagListener) -> Callable[[], None]:
        """Call ``listener(lag_seconds)`` on every sample; returns the unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, lag: float) -> None:
        """Hand one measurement (seconds) to every listener."""
        for listener in tuple(self._listeners):
            try:
                listener(lag)
            except Exception:
                # One listener's bug must not stop the samples the others rely on.
                log.exception("loop-lag listener %r failed", listener)

    async def run(self) -> None:
        """Sample until cancelled (the node runs this as one of its tasks)."""
        # The first wake-up still pays for the server's own start-up (listening,
        # the lifespan finishing), which says nothing about client load.
        await asyncio.sleep(self.interval)
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.publish(max(0.0, time.perf_counter() - before - self.interval))

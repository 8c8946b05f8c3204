"""A circuit breaker: after failures, stop calling a dependency for a cooldown.

closed -> (``threshold`` consecutive failures) -> open -> (cooldown passes) -> one
probe call allowed (half-open) -> success closes, failure re-opens for another
cooldown. While open, callers skip the dependency at once instead of waiting for
each call to time out.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self,
        cooldown: float,
        threshold: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown = cooldown
        self.threshold = threshold
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        self.trips = 0  # times it opened, for status and tests

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.probing else "open"

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if self.probing or self.clock() < self.opened_at + self.cooldown:
            return False
        self.probing = True  # this caller is the one probe
        return True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            if self.opened_at is None:
                self.trips += 1
            self.opened_at = self.clock()
            self.probing = False

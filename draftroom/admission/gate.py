"""The admission decision: how loaded the node is, and who may come in.

Two signals, both local and cheap to read:

- open WebSocket connections, counted by the ASGI edge from the moment a socket is
  admitted until its handler returns, so a burst of handshakes cannot overshoot the
  limit while they wait on auth;
- event-loop lag: how late the node's 100 ms timer wakes up (``draftroom.loop_lag``,
  handed in by the composition root). A loop that wakes late delays every frame of
  every writer on the node, so it is the measure of "writers are about to feel it".
  Admission keeps its own last second of samples rather than reading the telemetry
  histogram: that one is cumulative (made for rates over minutes) and admission
  needs the last fraction of a second.

Pressure has three steps. ``SHEDDING`` (lag at half the limit, or connections at
90 % of theirs) refuses work that can wait: agent calls, exports and analytics
queries, so the CPU they would take stays with editing; and presence relays are
held for half a second, each client's latest replacing the ones before, so a room
full of moving cursors sends a fraction of the frames. ``FULL`` (a limit reached)
refuses every newcomer. Lag-driven pressure goes up on one sample and comes down
only after ``RECOVER_SECONDS`` of samples below it (hysteresis), so a node on the
edge does not admit and refuse clients in alternation; connection pressure follows
the count, which already moves slowly.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from enum import IntEnum

from draftroom.errors import Overloaded
from draftroom.features import BaseFeature, FeatureHooks
from draftroom.loop_lag import LoopLag
from draftroom.telemetry import metrics

# Lag-driven pressure holds this long after the last sample that called for it.
RECOVER_SECONDS = 2.0
# Share of --max-connections from which work that can wait is refused.
SHED_SHARE = 0.9
# While shedding, each client's presence (cursor) relays are merged over this long.
PRESENCE_DELAY = 0.5
# What a client refused at the connection limit is asked to wait: long enough for
# sockets to end or a new node to come up, short enough that y-websocket's own
# backoff (at most 2.5 s) is the one that matters for sockets.
CONNECTIONS_RETRY_SECONDS = 5.0


class Pressure(IntEnum):
    NORMAL = 0
    SHEDDING = 1  # work that can wait is refused
    FULL = 2  # every newcomer is refused


class Work(IntEnum):
    """What a request asks for, by what it may be refused at."""

    HEALTH = 0  # probes and /metrics: never refused (the orchestrator must see us)
    EDIT = 1  # documents, sessions, sockets: refused only when FULL
    DEFERRABLE = 2  # agents, export, analytics: refused from SHEDDING

    @property
    def refused_from(self) -> Pressure | None:
        return {Work.HEALTH: None, Work.EDIT: Pressure.FULL, Work.DEFERRABLE: Pressure.SHEDDING}[
            self
        ]


class AdmissionControl(BaseFeature):
    def __init__(
        self,
        max_connections: int,
        max_loop_lag_ms: float,
        lag: LoopLag,
        clock: Callable[[], float] = time.monotonic,
        rooms: FeatureHooks | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.loop_lag = lag
        self._unsubscribe: Callable[[], None] | None = None
        # Where rooms read how long to hold presence relays (see PRESENCE_DELAY).
        self.rooms = rooms
        self.max_lag = max_loop_lag_ms / 1000
        self.clock = clock
        self.sockets = 0
        # (when, lag) of the last second of samples: what a scrape or a log reports.
        self._recent: deque[tuple[float, float]] = deque()
        # Until when lag-driven pressure holds at each step (index = Pressure).
        self._held_until = [0.0, 0.0, 0.0]
        # Refusals by (kind, reason), read by the metrics at collection time.
        # Every series starts at zero, so rate() works from the first scrape.
        self.refused: Counter[tuple[str, str]] = Counter(
            {
                (kind, why): 0
                for kind in ("websocket", "http")
                for why in ("connections", "loop_lag")
            }
        )
        self._sources = {
            "admission_pressure": self._pressure_gauge,
            "admission_lag": self._lag_gauge,
            "admission_refused": self._refused_counts,
        }

    # -- the decision ------------------------------------------------------------

    @property
    def lag(self) -> float:
        """The worst lag sampled in the last second, in seconds."""
        return max((lag for _, lag in self._recent), default=0.0)

    def lag_pressure(self) -> Pressure:
        now = self.clock()
        for step in (Pressure.FULL, Pressure.SHEDDING):
            if self._held_until[step] > now:
                return step
        return Pressure.NORMAL

    def connection_pressure(self) -> Pressure:
        limit = self.max_connections
        if limit <= 0:
            return Pressure.NORMAL
        if self.sockets >= limit:
            return Pressure.FULL
        if limit >= 10 and self.sockets >= SHED_SHARE * limit:
            return Pressure.SHEDDING
        return Pressure.NORMAL

    def pressure(self) -> Pressure:
        return max(self.lag_pressure(), self.connection_pressure())

    def check(self, work: Work, kind: str) -> None:
        """Raise ``Overloaded`` if ``work`` must wait; ``kind`` labels the refusal."""
        refused_from = work.refused_from
        if refused_from is None:
            return
        if self.connection_pressure() >= refused_from:
            self.refused[kind, "connections"] += 1
            raise Overloaded(
                f"this server is at its limit of {self.max_connections} connections; "
                "try again later",
                retry_after=CONNECTIONS_RETRY_SECONDS,
            )
        if self.lag_pressure() >= refused_from:
            self.refused[kind, "loop_lag"] += 1
            held = self._held_until[refused_from] - self.clock()
            raise Overloaded(
                "this server is overloaded; try again later", retry_after=math.ceil(held)
            )

    def admit_socket(self) -> None:
        """Take a socket slot, or raise ``Overloaded`` (the caller closes with 1013)."""
        self.check(Work.EDIT, "websocket")
        self.sockets += 1

    def release_socket(self) -> None:
        self.sockets -= 1

    def sample(self, lag: float) -> None:
        """Note one lag measurement (seconds)."""
        now = self.clock()
        self._recent.append((now, lag))
        while self._recent and self._recent[0][0] < now - 1.0:
            self._recent.popleft()
        if self.max_lag <= 0:
            return
        step = (
            Pressure.FULL
            if lag >= self.max_lag
            else Pressure.SHEDDING
            if lag >= self.max_lag / 2
            else Pressure.NORMAL
        )
        for held in range(Pressure.SHEDDING, step + 1):
            self._held_until[held] = now + RECOVER_SECONDS

    # -- the feature ---------------------------------------------------------------

    async def start(self) -> None:
        for name, source in self._sources.items():
            metrics.add_gauge_source(name, source)
        self._unsubscribe = self.loop_lag.subscribe(self._on_lag)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for name, source in self._sources.items():
            metrics.remove_gauge_source(name, source)

    def _on_lag(self, lag: float) -> None:
        self.sample(lag)
        if self.rooms is not None:
            shedding = self.pressure() >= Pressure.SHEDDING
            self.rooms.presence_delay = PRESENCE_DELAY if shedding else 0.0

    # -- gauge sources (read at collection time) -------------------------------------

    def _pressure_gauge(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(float(self.pressure()), {})]

    def _lag_gauge(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [(self.lag, {})]

    def _refused_counts(self) -> Iterable[tuple[float, dict[str, str]]]:
        return [
            (float(n), {"draftroom.admission.kind": kind, "draftroom.admission.reason": reason})
            for (kind, reason), n in self.refused.items()
        ]

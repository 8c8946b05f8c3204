"""Draftroom's metrics: OpenTelemetry instruments, and the one-line API features call.

Names and units follow the OpenTelemetry semantic conventions where one exists
(``gen_ai.client.*``, ``db.client.connection.count``, ``error.type``); the rest live
under ``draftroom.*``. The Prometheus exporter turns ``draftroom.save.duration`` (s)
into ``draftroom_save_duration_seconds_*``; docs/OPERATIONS.md lists them all.

Hot-path counts (updates in, out, saved) are plain integer increments in ``HOT``;
the SDK reads them through observable counters only when someone collects, so the
edit path pays ~30 ns rather than an SDK call (~4 µs) per keystroke. The two
histograms of the save path cost one SDK record each per group commit; everything
else happens at most once per bus batch, agent call or export.

Other features call, e.g.::

    from draftroom.telemetry import metrics
    metrics.cache_hit("summarize")          # or cache_miss
    metrics.agent_call("summarize", "gpt-x", seconds, tokens_in, tokens_out, cost_usd)
    metrics.export_done("docx", seconds)
    metrics.error("export_failed")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

# Buckets for sub-second latencies (seconds): saves, fan-out, loop lag.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Buckets for slow operations (seconds): AI calls, exports.
SLOW_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)


@dataclass(slots=True)
class HotCounters:
    """Per-process counts bumped on the edit path (plain ints: cheapest possible)."""

    updates_in: int = 0
    updates_out: int = 0
    updates_saved: int = 0


HOT = HotCounters()

# Gauges read from live nodes at collection time; telemetry.node registers sources.
GaugeSource = Callable[[], Iterable[tuple[float, dict[str, str]]]]
_gauges: dict[str, list[GaugeSource]] = {}


def add_gauge_source(name: str, source: GaugeSource) -> None:
    _gauges.setdefault(name, []).append(source)


def remove_gauge_source(name: str, source: GaugeSource) -> None:
    if source in _gauges.get(name, []):
        _gauges[name].remove(source)


def _observe(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[tuple[str, str], ...], float] = {}
        for source in list(_gauges.get(name, [])):
            for value, attrs in source():
                key = tuple(sorted(attrs.items()))
                totals[key] = totals.get(key, 0.0) + value
        return [Observation(v, dict(k)) for k, v in totals.items()]

    return callback


class Instruments:
    """Created against whatever MeterProvider is global when telemetry starts."""

    def __init__(self, meter: otel_metrics.Meter) -> None:
        m = meter
        m.create_observable_up_down_counter(
            "draftroom.websocket.connections", [_observe("connections")], "{connection}",
            "open WebSocket connections",
        )  # fmt: skip
        m.create_observable_up_down_counter(
            "draftroom.rooms", [_observe("rooms")], "{room}", "documents open in memory"
        )
        m.create_observable_counter(
            "draftroom.updates.received",
            [lambda _: [Observation(HOT.updates_in)]],
            "{update}",
            "document updates received from clients",
        )
        m.create_observable_counter(
            "draftroom.updates.sent",
            [lambda _: [Observation(HOT.updates_out)]],
            "{update}",
            "document update frames sent to clients",
        )
        m.create_observable_counter(
            "draftroom.updates.saved",
            [lambda _: [Observation(HOT.updates_saved)]],
            "{update}",
            "updates committed",
        )
        self.save_duration = m.create_histogram(
            "draftroom.save.duration", "s",
            "per group commit: oldest queued update to commit done (the slowest save in it)",
            explicit_bucket_boundaries_advisory=FAST_BUCKETS,
        )  # fmt: skip
        self.commit_duration = m.create_histogram(
            "draftroom.store.commit.duration", "s", "group commit transaction time",
            explicit_bucket_boundaries_advisory=FAST_BUCKETS,
        )  # fmt: skip
        self.fanout_duration = m.create_histogram(
            "draftroom.fanout.duration", "s",
            "commit on one node to delivery on another (sampled updates)",
            explicit_bucket_boundaries_advisory=FAST_BUCKETS,
        )  # fmt: skip
        self.cache_hits = m.create_counter("draftroom.cache.hits", "{hit}", "AI cache hits")
        self.cache_misses = m.create_counter("draftroom.cache.misses", "{miss}", "AI cache misses")
        self.agent_duration = m.create_histogram(
            "gen_ai.client.operation.duration", "s", "agent (AI) call duration",
            explicit_bucket_boundaries_advisory=SLOW_BUCKETS,
        )  # fmt: skip
        self.tokens = m.create_histogram(
            "gen_ai.client.token.usage", "{token}", "tokens per AI call, by gen_ai.token.type",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )  # fmt: skip
        self.ai_cost = m.create_counter("draftroom.ai.cost", "USD", "AI spend")
        self.export_duration = m.create_histogram(
            "draftroom.export.duration", "s", "document export duration",
            explicit_bucket_boundaries_advisory=SLOW_BUCKETS,
        )  # fmt: skip
        self.errors = m.create_counter("draftroom.errors", "{error}", "errors by error.type")
        self.loop_lag = m.create_histogram(
            "draftroom.event_loop.lag", "s", "event loop sleep overshoot",
            explicit_bucket_boundaries_advisory=FAST_BUCKETS,
        )  # fmt: skip
        m.create_observable_up_down_counter(
            "db.client.connection.count", [_observe("db_pool")], "{connection}",
            "database pool connections by db.client.connection.state",
        )  # fmt: skip
        m.create_observable_gauge(
            "draftroom.dependency.up", [_observe("up")], "1",
            "1 when the node reaches the dependency (store, bus), else 0",
        )  # fmt: skip
        m.create_observable_counter(
            "draftroom.bus.reconnects", [_observe("bus_reconnects")], "{reconnect}",
            "Redis subscriber reconnects",
        )  # fmt: skip
        m.create_observable_counter(
            "draftroom.bus.dropped", [_observe("bus_dropped")], "{message}",
            "bus messages lost (queue overflow or failed publish)",
        )  # fmt: skip
        m.create_observable_counter(
            "draftroom.analytics.dropped", [_observe("analytics_dropped")], "{event}",
            "analytics events dropped because the buffer was full",
        )  # fmt: skip
        # Start the counters alerts divide by at zero, so rate() works from the first
        # scrape and "absent" never looks like "fine".
        self.cache_hits.add(0)
        self.cache_misses.add(0)
        self.ai_cost.add(0)
        self.errors.add(0, {"error.type": "none"})


_instruments: Instruments | None = None


def instruments() -> Instruments:
    """The instruments, created on first use against the global MeterProvider."""
    global _instruments
    if _instruments is None:
        _instruments = Instruments(otel_metrics.get_meter("draftroom"))
    return _instruments


def reset_instruments() -> None:
    """Forget instruments (after the MeterProvider changed)."""
    global _instruments
    _instruments = None


# -- the API for other features -----------------------------------------------


def cache_hit(cache: str) -> None:
    instruments().cache_hits.add(1, {"draftroom.cache": cache})


def cache_miss(cache: str) -> None:
    instruments().cache_misses.add(1, {"draftroom.cache": cache})


def agent_call(
    agent: str,
    model: str,
    seconds: float,
    tokens_in: int,
    tokens_out: int,
    cost_usd: float,
    error: str | None = None,
) -> None:
    inst = instruments()
    attrs = {"draftroom.agent": agent, "gen_ai.request.model": model}
    if error is not None:
        inst.agent_duration.record(seconds, {**attrs, "error.type": error})
        inst.errors.add(1, {"error.type": error})
    else:
        inst.agent_duration.record(seconds, attrs)
    inst.tokens.record(tokens_in, {**attrs, "gen_ai.token.type": "input"})
    inst.tokens.record(tokens_out, {**attrs, "gen_ai.token.type": "output"})
    if cost_usd:
        inst.ai_cost.add(cost_usd, attrs)


def export_done(fmt: str, seconds: float, error: str | None = None) -> None:
    attrs = {"draftroom.export.format": fmt}
    if error is not None:
        attrs["error.type"] = error
        instruments().errors.add(1, {"error.type": error})
    instruments().export_duration.record(seconds, attrs)


def error(kind: str) -> None:
    """Count one error; ``kind`` is a short stable code (an exception class name, ...)."""
    instruments().errors.add(1, {"error.type": kind})

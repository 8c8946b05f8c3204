"""OpenTelemetry SDK setup, once per process, from the standard ``OTEL_*`` variables.

Three levels, so the embedded default stays lean:

* off (default): no tracer provider (the API's no-op tracer), no OTLP; only the
  Prometheus reader behind ``GET /metrics`` (``--no-metrics-endpoint`` drops that too).
* OTLP: ``--telemetry`` or any ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variable turns on
  traces, metrics and logs over OTLP/HTTP; everything else (service name, headers,
  batch sizes, export interval, sampler) comes from the standard variables.
* ``OTEL_SDK_DISABLED=true`` wins over both: nothing at all.

Tests pass an in-memory span exporter instead of OTLP.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from prometheus_client import CollectorRegistry, ProcessCollector

from draftroom.config import Settings
from draftroom.telemetry import metrics

log = logging.getLogger(__name__)

_OTLP_ENDPOINTS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)


@dataclass(frozen=True, slots=True)
class TelemetryState:
    tracing: bool  # a real tracer provider is installed
    otlp: bool  # exporting over OTLP
    registry: CollectorRegistry | None  # what GET /metrics serves


_state: TelemetryState | None = None


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def exporter_on(environ: Mapping[str, str], signal: str) -> bool:
    """``OTEL_TRACES_EXPORTER=none`` (etc.) turns one signal's OTLP export off."""
    return environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower() != "none"


def otlp_wanted(settings: Settings, environ: Mapping[str, str]) -> bool:
    if sdk_disabled(environ):
        return False
    return settings.telemetry or any(environ.get(name) for name in _OTLP_ENDPOINTS)


class BackgroundClientSampler(Sampler):
    """Root sampler: keep every root span except client calls made outside any request.

    The group committer, the bus and maintenance tasks query PostgreSQL and Redis
    continuously with no parent span; kept whole they would drown the backend, so
    they are sampled at ``ratio``. Everything else that starts a trace (an HTTP
    request, a WebSocket session, a sampled edit) is already rare enough.
    """

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        sampler = self._ratio if kind == SpanKind.CLIENT else ALWAYS_ON
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"BackgroundClientSampler{{{self._ratio.get_description()}}}"


def state() -> TelemetryState:
    return _state or TelemetryState(tracing=False, otlp=False, registry=None)


def configure(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> TelemetryState:
    """Install providers for this process (first call wins; later calls return it)."""
    global _state
    if _state is not None:
        return _state
    env = os.environ if environ is None else environ
    disabled = sdk_disabled(env)
    otlp = otlp_wanted(settings, env)
    tracing = otlp or span_exporter is not None
    resource = Resource.create(
        {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "draftroom"}
    )

    readers: list[MetricReader] = []
    registry: CollectorRegistry | None = None
    if settings.metrics_endpoint and not disabled:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, RSS, open fds
        readers.append(PrometheusMetricReader(registry=registry))
    if otlp and exporter_on(env, "METRICS"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if readers:
        otel_metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        metrics.reset_instruments()

    if tracing:
        sampler = None
        if not env.get("OTEL_TRACES_SAMPLER"):
            sampler = ParentBased(root=BackgroundClientSampler(settings.trace_background_ratio))
        provider = TracerProvider(resource=resource, sampler=sampler)
        if span_exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if otlp and exporter_on(env, "TRACES"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _instrument_libraries()
    if otlp and exporter_on(env, "LOGS"):
        _export_logs(resource)
    _state = TelemetryState(tracing=tracing, otlp=otlp, registry=registry)
    log.info("telemetry: tracing=%s otlp=%s /metrics=%s", tracing, otlp, registry is not None)
    return _state


def _instrument_libraries() -> None:
    # Official instrumentations: every asyncpg query and Redis command becomes a
    # client span under whatever span is current (ASGI adds its own in app setup).
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    AsyncPGInstrumentor().instrument()
    RedisInstrumentor().instrument()


def _export_logs(resource: Resource) -> None:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    from draftroom.telemetry.logs import RedactingFilter

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(provider)
    handler = LoggingHandler(logger_provider=provider)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)


def shutdown() -> None:
    """Flush exporters (on process exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(5_000)
    meter_provider = otel_metrics.get_meter_provider()
    if isinstance(meter_provider, MeterProvider):
        meter_provider.force_flush(5_000)

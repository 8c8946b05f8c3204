"""Telemetry tests share one process-wide SDK: installed here, at collection time, with
an in-memory span exporter, before any app in this process can configure it first."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from draftroom.config import Settings
from draftroom.telemetry import sdk

SPANS = InMemorySpanExporter()
sdk.configure(Settings(), span_exporter=SPANS, environ={})


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS

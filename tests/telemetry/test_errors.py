"""Unhandled errors become span exceptions and are counted by kind."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from draftroom.telemetry import sdk
from draftroom.telemetry.errors import ErrorLogCounter, ErrorMiddleware


class WidgetMeltdown(RuntimeError):
    pass


def _count(kind: str) -> float:
    registry = sdk.state().registry
    assert registry is not None
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("draftroom_errors_total{") and f'error_type="{kind}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_unhandled_exception_is_recorded_and_counted(spans: InMemorySpanExporter) -> None:
    async def broken_app(scope: object, receive: object, send: object) -> None:
        raise WidgetMeltdown("boom")

    async def nothing() -> dict[str, str]:
        return {}

    async def ignore(_: object) -> None:
        return None

    before = _count("WidgetMeltdown")
    with trace.get_tracer("test").start_as_current_span("request"):
        with pytest.raises(WidgetMeltdown):
            await ErrorMiddleware(broken_app)({"type": "http"}, nothing, ignore)  # type: ignore[arg-type]
    assert _count("WidgetMeltdown") == before + 1
    (span,) = [s for s in spans.get_finished_spans() if s.name == "request"]
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes is not None
    assert span.events[0].attributes["exception.type"].endswith("WidgetMeltdown")


def test_logged_background_errors_are_counted() -> None:
    handler = ErrorLogCounter()
    ours, other = logging.getLogger("draftroom.test.errors"), logging.getLogger("other.library")
    for logger in (ours, other):  # only this handler sees them (an app may have put one on root)
        logger.addHandler(handler)
        logger.propagate = False
    try:
        before = _count("log.test.errors"), _count("log.library")
        ours.error("maintenance pass failed")
        ours.warning("a warning is not an error")
        other.error("not ours")
        assert (_count("log.test.errors"), _count("log.library")) == (before[0] + 1, before[1])
    finally:
        for logger in (ours, other):
            logger.removeHandler(handler)
            logger.propagate = True

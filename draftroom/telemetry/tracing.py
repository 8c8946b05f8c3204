"""Spans on the edit path, cheap enough for per-keystroke volume.

No span per keystroke: about one edit in 1/``edit_ratio`` (default 1%; a countdown
with a random start, cheaper than a random draw per keystroke) starts a root
``draftroom.edit`` trace, linked to its WebSocket session. Its context rides the
save callback (asyncio runs a done-callback in the context it was given), so:

    draftroom.edit (node A)                     receive -> commit acknowledged
      draftroom.store.group_commit              the batch that saved it (links to the
        draftroom.store.commit                  other sampled edits in the batch)
      draftroom.bus.publish (PRODUCER)          the Redis pipeline that carried it
        draftroom.bus.receive (CONSUMER, B)     delivery to node B's writers

The context travels in ``Envelope.trace`` as W3C ``traceparent``. Independently
of tracing, one update in ``FANOUT_SAMPLE_EVERY`` carries its commit time
(``ts``) so receivers can fill the fan-out latency histogram.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from draftroom.bus.base import Envelope
from draftroom.telemetry import metrics

FANOUT_SAMPLE_EVERY = 16

tracer = trace.get_tracer("draftroom")
_spans_on = False  # a tracer provider is installed
_edits_on = False  # and edits are sampled
_edit_every = 100  # on average, trace one edit in this many
_edit_countdown = 1
_fanout_count = 0
# The sampled edit whose save callback is running (set only in that callback's context).
_EDIT: contextvars.ContextVar[Span | None] = contextvars.ContextVar("draftroom_edit", default=None)
# Sampled edits waiting for their group commit.
_pending: dict[asyncio.Future[int], Span] = {}
_NULL: AbstractContextManager[None] = nullcontext()


def configure(enabled: bool, edit_ratio: float) -> None:
    global _spans_on, _edits_on, _edit_every, _edit_countdown
    _spans_on = enabled
    _edits_on = enabled and edit_ratio > 0
    _edit_every = max(1, round(1 / edit_ratio)) if edit_ratio > 0 else 1
    _edit_countdown = 1


# -- edits ----------------------------------------------------------------------


def edit_context(doc_id: str, saved: asyncio.Future[int]) -> contextvars.Context | None:
    """For ``saved.add_done_callback(..., context=edit_context(doc, saved))``.

    None (the caller's own context, as usual) unless this edit is sampled.
    """
    global _edit_countdown
    if not _edits_on:
        return None
    # A countdown (with a random start) is cheaper per keystroke than random().
    _edit_countdown -= 1
    if _edit_countdown > 0:
        return None
    _edit_countdown = random.randint(1, 2 * _edit_every - 1) if _edit_every > 1 else 1
    session = trace.get_current_span().get_span_context()
    span = tracer.start_span(
        "draftroom.edit",
        context=Context(),  # a root: sessions last hours, edits are their own traces
        attributes={"draftroom.doc": doc_id},
        links=[Link(session)] if session.is_valid else None,
    )
    _pending[saved] = span
    saved.add_done_callback(partial(_edit_saved, span))
    ctx = contextvars.copy_context()
    ctx.run(_enter, span)
    return ctx


def _enter(span: Span) -> None:
    otel_context.attach(trace.set_span_in_context(span))
    _EDIT.set(span)


def _edit_saved(span: Span, saved: asyncio.Future[int]) -> None:
    _pending.pop(saved, None)
    if saved.cancelled():
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
    elif (exc := saved.exception()) is not None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    else:
        span.set_attribute("draftroom.seq", saved.result())
    span.end()


def on_commit(batch_size: int, queue_wait: float, commit: float) -> None:
    """GroupCommitter observer: metrics for every commit, a span for sampled ones."""
    metrics.HOT.updates_saved += batch_size
    inst = metrics.instruments()
    inst.save_duration.record(queue_wait + commit)
    inst.commit_duration.record(commit)
    if not _pending:
        return
    # Observers run after the batch's futures resolved and before their callbacks:
    # the sampled edits that are done now were in this batch.
    edits = [span for fut, span in _pending.items() if fut.done()]
    if not edits:
        return
    end = time.time_ns()
    commit_start = end - int(commit * 1e9)
    group = tracer.start_span(
        "draftroom.store.group_commit",
        context=trace.set_span_in_context(edits[0]),
        start_time=commit_start - int(queue_wait * 1e9),
        links=[Link(s.get_span_context()) for s in edits[1:]],
        attributes={
            "draftroom.batch_size": batch_size,
            "draftroom.queue_wait_s": queue_wait,
            "draftroom.commit_s": commit,
        },
    )
    child = tracer.start_span(
        "draftroom.store.commit",
        context=trace.set_span_in_context(group),
        start_time=commit_start,
        kind=SpanKind.CLIENT,
    )
    child.end(end)
    group.end(end)


# -- the bus --------------------------------------------------------------------


def stamp(envelope: Envelope) -> None:
    """Called as a message is queued for other nodes: attach trace context / time."""
    global _fanout_count
    span = _EDIT.get()
    if span is not None:
        inject(envelope.trace, context=trace.set_span_in_context(span))
        envelope.trace["ts"] = repr(time.time())
        return
    if envelope.kind == "update":
        _fanout_count += 1
        if _fanout_count >= FANOUT_SAMPLE_EVERY:
            _fanout_count = 0
            envelope.trace["ts"] = repr(time.time())


def publish_batch(batch: list[Envelope]) -> AbstractContextManager[Any]:
    """Around one pipelined publish: a PRODUCER span if the batch carries traces."""
    if not _spans_on:
        return _NULL
    traced = [e for e in batch if "traceparent" in e.trace]
    return _publish_span(traced, len(batch)) if traced else _NULL


@contextmanager
def _publish_span(traced: list[Envelope], size: int) -> Iterator[None]:
    links = [Link(trace.get_current_span(extract(e.trace)).get_span_context()) for e in traced[1:]]
    with tracer.start_as_current_span(
        "draftroom.bus.publish",
        context=extract(traced[0].trace),
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={"messaging.system": "redis", "messaging.batch.message_count": size},
    ):
        for env in traced:  # receivers become children of this span
            inject(env.trace)
        yield


def receive(envelope: Envelope) -> AbstractContextManager[Any]:
    """Around handing a message from another node to the node."""
    carrier = envelope.trace
    if not carrier:
        return _NULL
    ts = carrier.get("ts")
    if ts is not None:
        try:
            metrics.instruments().fanout_duration.record(max(0.0, time.time() - float(ts)))
        except ValueError:
            pass
    if not _spans_on or "traceparent" not in carrier:
        return _NULL
    return tracer.start_as_current_span(
        "draftroom.bus.receive",
        context=extract(carrier),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "redis",
            "draftroom.doc": envelope.doc,
            "draftroom.seq": envelope.seq,
        },
    )


# -- everything else ------------------------------------------------------------


def untraced_context() -> contextvars.Context:
    """A copy of the current context in which library instrumentations make no spans.

    For the group committer's task: its commits are traced as
    ``draftroom.store.commit`` spans already, and the asyncpg instrumentation's
    per-query work (even for spans the sampler drops) cost ~30% more CPU in the
    PostgreSQL save benchmark.
    """
    ctx = contextvars.copy_context()
    ctx.run(otel_context.attach, otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    return ctx


def span(name: str, **attributes: str | int | float) -> AbstractContextManager[Any]:
    """A plain span (session setup, agent calls, exports); free when tracing is off."""
    if not _spans_on:
        return _NULL
    return tracer.start_as_current_span(name, attributes=attributes)

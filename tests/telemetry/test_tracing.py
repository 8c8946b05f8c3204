"""One edit, one trace across two nodes: the context rides the Redis bus envelope."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.inprocess import make_settings, running_server
from draftroom.client import DraftroomClient


async def test_edit_is_one_trace_across_two_nodes(
    tmp_path: Path, postgres_url: str, redis_url: str, spans: InMemorySpanExporter
) -> None:
    common = dict(redis_url=redis_url, trace_edit_ratio=1.0, allow_anonymous=True)
    a_settings = make_settings(tmp_path / "a", postgres_url, **common)
    b_settings = make_settings(tmp_path / "b", postgres_url, **common)
    async with running_server(a_settings) as a, running_server(b_settings) as b:
        async with DraftroomClient(b.ws("doc-t")) as reader:
            async with DraftroomClient(a.ws("doc-t")) as writer:
                await asyncio.sleep(0.3)  # both nodes subscribed to the document
                n = writer.insert("x")
                await writer.wait_saved(n)
                for _ in range(100):
                    if str(reader.text) == "x":
                        break
                    await asyncio.sleep(0.05)
                assert str(reader.text) == "x"
    finished = spans.get_finished_spans()
    by_name: dict[str, list] = {}
    for s in finished:
        by_name.setdefault(s.name, []).append(s)
    assert "draftroom.ws.initial_sync" in by_name
    receives = by_name.get("draftroom.bus.receive", [])
    assert receives, sorted(by_name)
    receive = receives[0]
    trace_id = receive.context.trace_id
    in_trace = {s.name: s for s in finished if s.context.trace_id == trace_id}
    for name in ("draftroom.edit", "draftroom.store.group_commit", "draftroom.bus.publish"):
        assert name in in_trace, (name, sorted(in_trace))
    edit, publish = in_trace["draftroom.edit"], in_trace["draftroom.bus.publish"]
    assert edit.parent is None  # a root of its own, linked to the WebSocket session
    sessions = {s.context.span_id for s in by_name.get("WebSocket /ws", [])}
    assert len(edit.links) == 1 and edit.links[0].context.span_id in sessions
    assert publish.parent is not None and publish.parent.span_id == edit.context.span_id
    assert receive.parent is not None and receive.parent.span_id == publish.context.span_id
    commit = in_trace["draftroom.store.group_commit"]
    assert commit.parent is not None and commit.parent.span_id == edit.context.span_id
    # The two halves ran on different nodes (different hubs), in one trace.
    assert receive.attributes is not None and receive.attributes["draftroom.doc"] == "doc-t"


async def test_unsampled_edits_make_no_edit_spans(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    settings = make_settings(tmp_path, None, trace_edit_ratio=0.0, allow_anonymous=True)
    async with running_server(settings) as server:
        async with DraftroomClient(server.ws("quiet")) as client:
            for ch in "abcdefghij":
                n = client.insert(ch)
            await client.wait_saved(n)
    names = {s.name for s in spans.get_finished_spans()}
    assert "draftroom.ws.initial_sync" in names  # tracing is on...
    assert "draftroom.edit" not in names  # ...but no per-keystroke spans
    assert "draftroom.store.group_commit" not in names

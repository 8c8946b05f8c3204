"""Agents and exports move their metrics on /metrics (cache hits and misses, agent
latency, export duration): what the dashboard's cache and export panels read."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from devtools.inprocess import make_settings, running_server
from draftroom.client import DraftroomClient


def total(metrics: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    found = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? ([0-9.e+-]+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            found += float(match.group(2))
    return found


async def test_agent_cache_and_export_metrics_move(tmp_path: Path) -> None:
    async with running_server(make_settings(tmp_path)) as srv:
        async with DraftroomClient(srv.ws("doc")) as writer:
            await writer.wait_saved(writer.insert("The cat sat. It was a very nice day indeed."))
        async with httpx.AsyncClient(base_url=srv.http, timeout=30) as http:
            before = (await http.get("/metrics")).text
            for _ in range(2):  # a miss, then a hit
                reply = await http.post("/api/documents/doc/agents/readability", json={})
                assert reply.status_code == 200, reply.text
            exported = await http.get("/api/documents/doc/export/md")
            assert exported.status_code == 200
            after = (await http.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Other tests in this process may have moved these series too: compare like with like.
    assert moved("draftroom_cache_hits_total", draftroom_cache="agent") == 1
    assert moved("draftroom_cache_misses_total", draftroom_cache="agent") == 1
    # OTel GenAI semantic conventions name the agent latency histogram.
    calls = "gen_ai_client_operation_duration_seconds_count"
    assert moved(calls, draftroom_agent="readability") == 1
    assert moved("draftroom_export_duration_seconds_count", draftroom_export_format="md") == 1

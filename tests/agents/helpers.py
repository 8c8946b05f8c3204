"""Small helpers shared by the agent tests."""

from __future__ import annotations

import json
from typing import Any

import httpx


async def invoke(
    http: httpx.AsyncClient, base: str, doc: str, agent: str, **body: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    """POST an invocation; return the response and its NDJSON events."""
    response = await http.post(f"{base}/api/documents/{doc}/agents/{agent}", json=body)
    if response.headers.get("content-type", "").startswith("application/x-ndjson"):
        events = [json.loads(line) for line in response.text.splitlines() if line]
        return response, events
    return response, []


def reply_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == "agent.chunk"]


def agent_events(app_log: list[dict[str, Any]], request: str) -> list[dict[str, Any]]:
    return [m for m in app_log if str(m.get("type", "")).startswith("agent.") and
            m.get("request") == request]  # fmt: skip


def dumps(events: list[dict[str, Any]]) -> str:
    return json.dumps(events, indent=1)[:2000]

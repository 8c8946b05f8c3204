"""Cost accounting: tokens times the price table, per user, document, agent and model;
the usage report's filters; the daily budget."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devtools.fake_openai import FakeOpenAI
from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.client import DraftroomClient

from .helpers import invoke, reply_of

PRICES = {"test-model": {"input": 2.0, "output": 10.0}}  # USD per 1M tokens


@pytest.fixture
async def server(
    tmp_path: Path, postgres_url: str, llm: FakeOpenAI
) -> AsyncIterator[RunningServer]:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    settings = make_settings(
        tmp_path,
        postgres_url,
        llm_base_url=llm.base_url,
        llm_model="test-model",
        agent_prices=str(prices),
    )
    async with running_server(settings) as running:
        yield running


async def test_usage_is_costed_and_reported_with_filters(
    server: RunningServer, llm: FakeOpenAI
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        async with DraftroomClient(server.ws("a")) as a, DraftroomClient(server.ws("b")) as b:
            await a.wait_saved(a.insert("Chapter one text."))
            await b.wait_saved(b.insert("Another book entirely."))
            t0 = time.time()
            await invoke(http, server.http, "a", "critique")
            await invoke(http, server.http, "a", "critique")  # a cache hit costs nothing
            await invoke(http, server.http, "b", "brainstorm")
            await invoke(http, server.http, "a", "style")  # no LLM: not billed
        assert len(llm.requests) == 2
        report = (await http.get(f"{server.http}/api/usage")).json()
        assert report["totals"]["calls"] == 2
        expected = 0.0
        for body in llm.requests:
            prompt = sum(len(m["content"]) for m in body["messages"]) // 4 + 7
            expected += (prompt * 2.0 + 12 * 10.0) / 1_000_000
        assert report["totals"]["cost_usd"] == pytest.approx(expected)
        assert [g["key"] for g in report["by_model"]] == ["test-model"]
        assert {g["key"] for g in report["by_agent"]} == {"critique", "brainstorm"}
        assert {g["key"] for g in report["by_document"]} == {"a", "b"}
        assert [g["key"] for g in report["by_user"]] == ["anonymous"]
        record = report["records"][0]
        assert record["estimated"] is False and record["model"] == "test-model"

        by_doc = (await http.get(f"{server.http}/api/usage", params={"document": "b"})).json()
        assert by_doc["totals"]["calls"] == 1 and by_doc["records"][0]["agent"] == "brainstorm"
        params = {"agent": "critique", "model": "test-model", "user": "anonymous"}
        by_agent = (await http.get(f"{server.http}/api/usage", params=params)).json()
        assert by_agent["totals"]["calls"] == 1
        later = (await http.get(f"{server.http}/api/usage", params={"since": t0 + 3600})).json()
        assert later["totals"]["calls"] == 0
        window = {"since": "2000-01-01T00:00:00+00:00", "until": str(time.time() + 60)}
        assert (await http.get(f"{server.http}/api/usage", params=window)).json()["totals"][
            "calls"
        ] == 2
        bad = await http.get(f"{server.http}/api/usage", params={"since": "yesterday"})
        assert bad.status_code == 422


async def test_daily_budget_refuses_once_spent(server: RunningServer, llm: FakeOpenAI) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        async with DraftroomClient(server.ws("doc")) as a:
            await a.wait_saved(a.insert("The lighthouse keeper waited."))
            budget_url = f"{server.http}/api/usage/budgets/anonymous"
            set_budget = await http.put(budget_url, json={"daily_usd": 0.0001})
            assert set_budget.json()["daily_usd"] == 0.0001
            first, events = await invoke(http, server.http, "doc", "critique")
            assert first.status_code == 200 and reply_of(events)
            # One call spent more than the cap: the next computation is refused...
            refused, _ = await invoke(http, server.http, "doc", "brainstorm")
            assert refused.status_code == 429
            body = refused.json()
            assert body["error"] == "budget_exceeded" and "resets at 00:00 UTC" in body["message"]
            assert len(llm.requests) == 1
            # ...but what is cached still answers, and offline agents are free.
            cached, _ = await invoke(http, server.http, "doc", "critique")
            assert cached.status_code == 200 and cached.headers["x-agent-cache"] == "hit"
            offline, _ = await invoke(http, server.http, "doc", "outline")
            assert offline.status_code == 200
            # Raising the cap lets the writer continue today.
            await http.put(budget_url, json={"daily_usd": 10})
            again, _ = await invoke(http, server.http, "doc", "brainstorm")
            assert again.status_code == 200
            # Clearing the override falls back to the default (no cap).
            cleared = await http.put(budget_url, json={"daily_usd": None})
            assert cleared.json()["daily_usd"] is None
            bad = await http.put(budget_url, json={"daily_usd": -1})
            assert bad.status_code == 422


async def test_default_budget_from_settings(tmp_path: Path, llm: FakeOpenAI) -> None:
    settings = make_settings(
        tmp_path,
        llm_base_url=llm.base_url,
        llm_model="test-model",
        agent_prices=json.dumps(PRICES),
        agent_daily_budget_usd=0.00001,
    )
    async with running_server(settings) as server, httpx.AsyncClient(timeout=30) as http:
        async with DraftroomClient(server.ws("doc")) as a:
            await a.wait_saved(a.insert("Text."))
            assert (await invoke(http, server.http, "doc", "critique"))[0].status_code == 200
            refused, _ = await invoke(http, server.http, "doc", "continue")
            assert refused.status_code == 429

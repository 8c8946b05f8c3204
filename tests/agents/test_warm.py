"""Keeping replies warm: after an edit, the offline replies asked about a document are
recomputed in the background, so the next question is a hit about the new text; LLM
agents are never run unasked, and interest expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.fake_openai import FakeOpenAI
from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.admission import AdmissionControl, Pressure
from draftroom.agents.service import AgentService
from draftroom.client import DraftroomClient

from .helpers import invoke, reply_of

TEXT = "It was a dark night.\nThe lantern swung."


def warmer_of(server: object) -> object:
    return server.hub.feature(AgentService).warmer


@asynccontextmanager
async def writing(
    settings: Any, doc: str
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient, DraftroomClient]]:
    """A server, an HTTP client, and a writer who has saved TEXT into ``doc``."""
    async with (
        running_server(settings) as server,
        httpx.AsyncClient(timeout=30) as http,
        DraftroomClient(server.ws(doc)) as alice,
    ):
        await alice.wait_saved(alice.insert(TEXT))
        yield server, http, alice


async def test_an_edit_recomputes_asked_replies_about_the_new_text(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> None:
    settings = make_settings(
        tmp_path, postgres_url, redis_url=redis_url, llm_base_url=llm.base_url,
        agent_warm_interval_seconds=0.1,
    )  # fmt: skip
    async with writing(settings, "warm") as (server, http, alice):
        warmer = warmer_of(server)
        asked = [
            ("style", {}, "miss"),
            ("style", {"max_issues": 1}, "hit"),  # the same computation as the line above
            ("readability", {"per_paragraph": False}, "miss"),
            ("outline", {}, "miss"),
            ("critique", {}, "miss"),  # an LLM agent: never run unasked
        ]
        for agent, params, expected in asked:
            response, _ = await invoke(http, server.http, "warm", agent, params=params)
            assert response.headers["x-agent-cache"] == expected, agent
        llm_calls = len(llm.requests)

        await alice.wait_saved(alice.insert(" We will utilize it."))
        # style, readability and outline: three replies, computed once each.
        await eventually(lambda: warmer.computed == 3)  # type: ignore[attr-defined]
        await eventually(lambda: not server.hub.feature(AgentService).flights.flights)

        response, events = await invoke(http, server.http, "warm", "style")
        assert response.headers["x-agent-cache"] == "hit"
        edited = TEXT + " We will utilize it."
        issues = [i for c in reply_of(events) for i in c.get("issues", [])]
        assert any(edited[i["start"] : i["end"]] == "utilize" for i in issues)  # the new text

        response, events = await invoke(
            http, server.http, "warm", "readability", params={"per_paragraph": True}
        )
        assert response.headers["x-agent-cache"] == "hit"
        assert reply_of(events)[-1]["overall"]["words"] == len(edited.split())

        response, events = await invoke(http, server.http, "warm", "outline")
        assert response.headers["x-agent-cache"] == "hit"
        assert reply_of(events)[-1]["total_words"] == len(edited.split())

        response, _ = await invoke(http, server.http, "warm", "critique")
        assert response.headers["x-agent-cache"] == "miss"
        assert len(llm.requests) == llm_calls + 1  # only the one just asked for

        # An edit that leaves the text as it was (a no-op for agents) computes nothing.
        passes, computed = warmer.passes, warmer.computed  # type: ignore[attr-defined]
        before = alice.doc.get_state()
        with alice.doc.transaction():
            alice.text.insert(len(edited), "x")
            del alice.text[len(edited) : len(edited) + 1]
        await alice.wait_saved(alice.send_update(alice.doc.get_update(before)))
        await eventually(lambda: warmer.passes > passes)  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        assert warmer.computed == computed  # type: ignore[attr-defined]


async def test_interest_expires_and_selections_are_not_warmed(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, agent_warm_window_seconds=0.5, agent_warm_interval_seconds=0.05
    )
    async with writing(settings, "cold") as (server, http, alice):
        warmer = warmer_of(server)
        selection = {"start": 0, "end": 10}
        response, _ = await invoke(http, server.http, "cold", "style", selection=selection)
        assert response.headers["x-agent-cache"] == "miss"
        await alice.wait_saved(alice.insert(" More."))
        await asyncio.sleep(0.3)
        assert warmer.passes == 0 and warmer.computed == 0  # type: ignore[attr-defined]

        response, _ = await invoke(http, server.http, "cold", "outline")
        await asyncio.sleep(0.8)  # past the window: nobody is looking any more
        await alice.wait_saved(alice.insert(" And more."))
        await asyncio.sleep(0.3)
        assert warmer.computed == 0  # type: ignore[attr-defined]
        assert not warmer.docs  # type: ignore[attr-defined]
        response, _ = await invoke(http, server.http, "cold", "outline")
        assert response.headers["x-agent-cache"] == "miss"


@pytest.mark.serial
async def test_warm_passes_wait_while_the_node_sheds_work(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> None:
    """Under admission pressure warming is deferrable agent work: it waits, then resumes."""
    settings = make_settings(
        tmp_path, postgres_url, redis_url=redis_url, llm_base_url=llm.base_url,
        agent_warm_interval_seconds=0.1, max_loop_lag_ms=1000,
    )  # fmt: skip
    async with writing(settings, "shed") as (server, http, alice):
        warmer = warmer_of(server)
        response, _ = await invoke(http, server.http, "shed", "outline")
        assert response.headers["x-agent-cache"] == "miss"

        admission = server.hub.feature(AdmissionControl)
        admission.sample(0.6)  # half the lag limit: shedding for RECOVER_SECONDS
        assert admission.pressure() == Pressure.SHEDDING
        await alice.wait_saved(alice.insert(" A second line."))
        deadline = asyncio.get_running_loop().time() + 1.0
        while asyncio.get_running_loop().time() < deadline:
            admission.sample(0.6)  # keep the node shedding
            assert warmer.computed == 0  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)

        # Pressure falls by itself after RECOVER_SECONDS; the pass then runs.
        await eventually(lambda: warmer.computed == 1, within=10)  # type: ignore[attr-defined]

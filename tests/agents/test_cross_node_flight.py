"""Single-flight across nodes: identical requests on two nodes (real Redis and
PostgreSQL) make one LLM call; when the node computing gives up, another takes over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from devtools.fake_openai import FakeOpenAI
from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.client import DraftroomClient

from .helpers import invoke, reply_of

TEXT = "The harbour was silent. A letter waited on the table."


@asynccontextmanager
async def two_nodes(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> AsyncIterator[tuple[RunningServer, RunningServer, httpx.AsyncClient]]:
    """Two nodes sharing PostgreSQL and Redis, with TEXT saved in document "shared"."""
    a, b = (
        make_settings(tmp_path / name, postgres_url, redis_url=redis_url, llm_base_url=llm.base_url)
        for name in ("one", "two")
    )
    async with (
        running_server(a) as one,
        running_server(b) as two,
        httpx.AsyncClient(timeout=30) as http,
        DraftroomClient(one.ws("shared")) as alice,
    ):
        await alice.wait_saved(alice.insert(TEXT))
        yield one, two, http


async def test_identical_requests_on_two_nodes_make_one_llm_call(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> None:
    llm.behaviour.first_byte_delay = 0.8  # every request arrives while the first computes
    llm.behaviour.chunk_delay = 0.01
    llm.behaviour.words = 20
    async with two_nodes(tmp_path, postgres_url, redis_url, llm) as (one, two, http):
        results = await asyncio.gather(
            *(invoke(http, node.http, "shared", "critique") for node in (one, two) * 5)
        )
        assert len(llm.requests) == 1
        replies = {"".join(c["text"] for c in reply_of(events)) for _, events in results}
        assert len(replies) == 1 and len(next(iter(replies)).split()) == 20
        sources = [response.headers["x-agent-cache"] for response, _ in results]
        assert set(sources) <= {"miss", "joined", "hit"} and "miss" in sources
        assert all(events[-1]["type"] == "agent.done" for _, events in results)


@pytest.mark.serial
async def test_when_the_computing_node_gives_up_another_computes(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> None:
    llm.behaviour.chunk_delay = 0.02
    llm.behaviour.words = 60
    async with two_nodes(tmp_path, postgres_url, redis_url, llm) as (one, two, http):
        url = f"{one.http}/api/documents/shared/agents/critique"
        async with http.stream("POST", url, json={}) as response:
            lines = response.aiter_lines()
            assert '"agent.start"' in await anext(lines)
            assert '"agent.chunk"' in await anext(lines)
            # Node two gets the same request while node one is computing: it waits.
            waiting = asyncio.ensure_future(invoke(http, two.http, "shared", "critique"))
            await asyncio.sleep(0.3)
            assert not waiting.done() and len(llm.requests) == 1
        # Node one's requester hung up: its computation stops, so node two computes.
        response, events = await asyncio.wait_for(waiting, 20)
        assert response.headers["x-agent-cache"] == "joined"
        assert events[-1]["type"] == "agent.done"
        assert len("".join(c["text"] for c in reply_of(events)).split()) == 60
        assert len(llm.requests) == 2 and llm.disconnects == 1

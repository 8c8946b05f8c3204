"""Two real server processes sharing PostgreSQL and Redis: an agent's reply reaches the
collaborators on both nodes, and its applied edit too."""

from __future__ import annotations

from typing import Any

import httpx

from devtools.fake_openai import FakeOpenAI
from devtools.waiting import eventually
from draftroom.client import DraftroomClient
from draftroom.crdt.protocol import encode_app

from .helpers import agent_events, invoke, reply_of


async def test_reply_streams_to_clients_on_two_nodes(
    draftroom_process: Any, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> None:
    llm.behaviour.chunk_delay = 0.02  # a real stream: chunks arrive over time
    args = ("--database-url", postgres_url, "--redis-url", redis_url,
            "--llm-base-url", llm.base_url)  # fmt: skip
    one, two = draftroom_process(*args), draftroom_process(*args)
    async with (
        DraftroomClient(one.ws_url("novel")) as alice,
        DraftroomClient(two.ws_url("novel")) as bob,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await alice.wait_saved(alice.insert("The storm came in from the west."))
        await eventually(lambda: str(bob.text) == str(alice.text))

        response, events = await invoke(http, one.http_url, "novel", "continue")
        request = response.headers["x-request-id"]
        assert events[0]["type"] == "agent.start" and len(reply_of(events)) == 12
        for client in (alice, bob):
            await eventually(lambda c=client: len(agent_events(c.app_log, request)) == len(events))
            assert agent_events(client.app_log, request) == events

        # Bob, on the other node, asks over the WebSocket and has the reply applied.
        await bob.send_raw(
            encode_app({"type": "agent.invoke", "agent": "continue", "request": "bob-1",
                        "apply": True, "params": {"guidance": "thunder"}})
        )  # fmt: skip
        await eventually(
            lambda: any(m["type"] == "agent.done" for m in agent_events(alice.app_log, "bob-1"))
        )
        done = agent_events(alice.app_log, "bob-1")[-1]
        assert done["applied"]["version"] >= 2, done
        reply = "".join(
            m["data"]["text"] for m in agent_events(alice.app_log, "bob-1")
            if m["type"] == "agent.chunk"
        )  # fmt: skip
        expected = "The storm came in from the west.\n" + reply.strip()
        await eventually(lambda: str(alice.text) == expected and str(bob.text) == expected)

"""Agents through a real server (in-process, real PostgreSQL and Redis): streaming to
collaborators, the cache, single-flight, invalidation, applying replies as edits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.fake_openai import FakeOpenAI
from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.agents.service import AgentService
from draftroom.client import DraftroomClient

from .helpers import agent_events, invoke, reply_of

TEXT = "It was a very unique night.\nWe will utilize the the lantern."


@pytest.fixture
async def server(
    tmp_path: Path, postgres_url: str, redis_url: str, llm: FakeOpenAI
) -> AsyncIterator[RunningServer]:
    settings = make_settings(
        tmp_path,
        postgres_url,
        redis_url=redis_url,
        llm_base_url=llm.base_url,
        redis_cooldown_seconds=0.5,
        # These tests pin down exactly when a request hits or misses; warming after
        # edits (on by default) has its own test below.
        agent_warm_window_seconds=0,
    )
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@asynccontextmanager
async def writer(server: RunningServer, doc: str, text: str) -> AsyncIterator[DraftroomClient]:
    """A connected client that has written ``text`` (saved) into ``doc``."""
    async with DraftroomClient(server.ws(doc)) as client:
        await client.wait_saved(client.insert(text))
        yield client


async def test_agents_are_listed_with_availability(tmp_path: Path, http: httpx.AsyncClient) -> None:
    async with running_server(make_settings(tmp_path)) as embedded:
        listed = (await http.get(f"{embedded.http}/api/agents")).json()["agents"]
    by_name = {a["name"]: a for a in listed}
    assert {"style", "readability", "outline", "continue", "rewrite", "critique",
            "brainstorm"} <= set(by_name)  # fmt: skip
    assert by_name["style"]["available"] and by_name["style"]["unavailable_reason"] is None
    assert by_name["continue"]["available"] is False
    assert "--llm-base-url" in by_name["continue"]["unavailable_reason"]
    assert by_name["brainstorm"]["params"]["properties"]["count"]["default"] == 5


async def test_unavailable_llm_agent_is_refused_clearly(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    async with running_server(make_settings(tmp_path)) as embedded:
        async with writer(embedded, "d", "Some text."):
            response, _ = await invoke(http, embedded.http, "d", "critique")
    assert response.status_code == 503
    assert response.json()["error"] == "agent_unavailable"


async def test_reply_streams_to_every_collaborator_tagged(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with (
        writer(server, "doc", TEXT) as alice,
        DraftroomClient(server.ws("doc")) as bob,
    ):
        response, events = await invoke(http, server.http, "doc", "style")
        assert response.status_code == 200, response.text
        request = response.headers["x-request-id"]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "agent.start" and kinds[-1] == "agent.done"
        assert {e["request"] for e in events} == {request}
        assert events[0]["requester"] == {"id": "anonymous", "name": "anonymous"}
        for client in (alice, bob):
            await eventually(lambda c=client: len(agent_events(c.app_log, request)) == len(events))
            assert agent_events(client.app_log, request) == events
        issues = [i for chunk in reply_of(events) for i in chunk.get("issues", [])]
        assert any(TEXT[i["start"] : i["end"]] == "very unique" for i in issues)


async def test_repeat_hits_cache_and_an_edit_never_gets_a_stale_reply(
    server: RunningServer, http: httpx.AsyncClient, llm: FakeOpenAI
) -> None:
    async with writer(server, "doc", TEXT) as alice:
        first, events1 = await invoke(http, server.http, "doc", "critique")
        again, events2 = await invoke(http, server.http, "doc", "critique")
        assert first.headers["x-agent-cache"] == "miss"
        assert again.headers["x-agent-cache"] == "hit"
        assert events2[0]["cached"] is True and reply_of(events2) == reply_of(events1)
        assert len(llm.requests) == 1

        await alice.wait_saved(alice.insert(" A new sentence."))
        after, events3 = await invoke(http, server.http, "doc", "critique")
        assert after.headers["x-agent-cache"] == "miss"
        assert len(llm.requests) == 2
        # The reply is about the new text: the model was sent the edited document.
        assert "A new sentence." in llm.requests[1]["messages"][-1]["content"]
        assert reply_of(events3) != reply_of(events1)
        words = "".join(c["text"] for c in reply_of(events3)).split()
        assert words == FakeOpenAI.reply_for(llm.requests[1], 12)

        # The built-ins too: same text hits, changed text misses.
        r1, _ = await invoke(http, server.http, "doc", "outline")
        r2, _ = await invoke(http, server.http, "doc", "outline")
        await alice.wait_saved(alice.insert("!"))
        r3, _ = await invoke(http, server.http, "doc", "outline")
        assert [r.headers["x-agent-cache"] for r in (r1, r2, r3)] == ["miss", "hit", "miss"]
        # Parameters that only shape the view (a limit) share one computed reply, and
        # each request still gets its own view of it.
        r4, e4 = await invoke(http, server.http, "doc", "style", params={"max_issues": 1})
        r5, e5 = await invoke(http, server.http, "doc", "style", params={"max_issues": 2})
        assert [r.headers["x-agent-cache"] for r in (r4, r5)] == ["miss", "hit"]
        found = reply_of(e4)[-1]["summary"]["issues"]
        assert found >= 3  # "very unique", "utilize", "the the"
        for events, shown in ((e4, 1), (e5, 2)):
            chunks = reply_of(events)
            assert sum(len(c.get("issues", [])) for c in chunks) == shown
            assert chunks[-1]["summary"] == {"issues": found, "shown": shown}
        # Parameters the computation depends on are a different entry.
        r6, _ = await invoke(http, server.http, "doc", "brainstorm", params={"count": 2})
        r7, _ = await invoke(http, server.http, "doc", "brainstorm", params={"count": 3})
        assert [r.headers["x-agent-cache"] for r in (r6, r7)] == ["miss", "miss"]


async def test_fifty_identical_requests_run_one_computation(
    server: RunningServer, http: httpx.AsyncClient, llm: FakeOpenAI
) -> None:
    llm.behaviour.first_byte_delay = 0.5  # all 50 arrive while the first is computing
    async with writer(server, "doc", TEXT):
        results = await asyncio.gather(
            *(invoke(http, server.http, "doc", "brainstorm") for _ in range(50))
        )
    assert len(llm.requests) == 1
    assert all(r.status_code == 200 for r, _ in results)
    replies = {str(reply_of(events)) for _, events in results}
    assert len(replies) == 1 and "text" in next(iter(replies))
    assert all(events[-1]["type"] == "agent.done" for _, events in results)
    # Only one call was billed.
    usage = (await http.get(f"{server.http}/api/usage")).json()
    assert usage["totals"]["calls"] == 1


async def test_invalidation_by_agent_document_and_everything(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async def cache_state(doc: str, agent: str) -> str:
        response, _ = await invoke(http, server.http, doc, agent)
        return str(response.headers["x-agent-cache"])

    async with writer(server, "a", TEXT), writer(server, "b", TEXT):
        for doc in ("a", "b"):
            for agent in ("style", "outline"):
                assert await cache_state(doc, agent) == "miss"
        url = f"{server.http}/api/agents/cache"
        removed = (await http.delete(url, params={"agent": "style", "document": "a"})).json()
        assert removed["removed"] == 1
        assert await cache_state("a", "style") == "miss"
        assert await cache_state("b", "style") == "hit"
        assert (await http.delete(url, params={"document": "b"})).json()["removed"] == 2
        assert await cache_state("b", "outline") == "miss"
        assert await cache_state("a", "outline") == "hit"
        assert (await http.delete(url)).json()["removed"] == 3
        assert await cache_state("a", "outline") == "miss"


async def test_reply_applied_as_an_attributable_edit(
    server: RunningServer, http: httpx.AsyncClient, llm: FakeOpenAI
) -> None:
    llm.behaviour.chunk_delay = 0.02
    async with (
        writer(server, "doc", "The door creaked.") as alice,
        DraftroomClient(server.ws("doc")) as bob,
    ):
        presence_before = bob.awareness_frames
        response, events = await invoke(http, server.http, "doc", "continue", apply=True)
        assert response.status_code == 200, response.text
        done = events[-1]
        assert done["type"] == "agent.done", done
        reply = "".join(c["text"] for c in reply_of(events))
        expected = "The door creaked.\n" + reply
        for client in (alice, bob):
            await eventually(lambda c=client: str(c.text) == expected)
        # Visible presence: shown while writing, then cleared.
        await eventually(lambda: bob.awareness_frames >= presence_before + 2)
        room = server.hub.rooms["doc"]
        assert done["applied"]["client_id"] not in room.awareness.entries
        # Persisted, and attributed to the agent's client id and the requester.
        assert (await server.hub.store.load("doc")).seq == done["applied"]["version"]
        row = await server.hub.store.sql.fetchrow("SELECT * FROM agent_edits")
        assert row is not None
        assert (row["client_id"], row["agent"], row["user_id"], row["seq"]) == (
            done["applied"]["client_id"], "continue", "anonymous", done["applied"]["version"]
        )  # fmt: skip
        # Yjs records the agent's client id on the inserted text.
        assert done["applied"]["client_id"] in _client_ids(room.doc.get_state())


async def test_rewrite_replaces_the_selection_with_non_ascii_text(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    text = "Café au lait. Bad sentence here. Fin."
    start, end = text.index("Bad"), text.index(" Fin")
    async with writer(server, "doc", text) as alice:
        _, events = await invoke(
            http, server.http, "doc", "rewrite", apply=True,
            selection={"start": start, "end": end},
        )  # fmt: skip
        reply = "".join(c["text"] for c in reply_of(events)).strip()
        assert events[-1]["type"] == "agent.done", events[-1]
        await eventually(lambda: str(alice.text) == text[:start] + reply + text[end:])


async def test_websocket_invocation_reaches_everyone(server: RunningServer) -> None:
    from draftroom.crdt.protocol import encode_app

    async with writer(server, "doc", TEXT) as alice, DraftroomClient(server.ws("doc")) as bob:
        await bob.send_raw(encode_app({"type": "agent.invoke", "agent": "readability",
                                       "request": "bob-1"}))  # fmt: skip
        for client in (alice, bob):
            await eventually(
                lambda c=client: any(
                    m["type"] == "agent.done" for m in agent_events(c.app_log, "bob-1")
                )
            )
        assert agent_events(alice.app_log, "bob-1") == agent_events(bob.app_log, "bob-1")
        # A refusal goes to the sender only.
        await bob.send_raw(encode_app({"type": "agent.invoke", "agent": "nope", "request": "x"}))
        await eventually(lambda: agent_events(bob.app_log, "x"))
        assert agent_events(bob.app_log, "x")[0]["code"] == "unknown_agent"
        await asyncio.sleep(0.1)
        assert agent_events(alice.app_log, "x") == []


async def test_bad_requests_get_json_errors(server: RunningServer, http: httpx.AsyncClient) -> None:
    async with writer(server, "doc", TEXT):
        cases: list[tuple[str, dict[str, Any], int, str]] = [
            ("nope", {}, 404, "unknown_agent"),
            ("style", {"params": {"bogus": 1}}, 422, "invalid_params"),
            ("style", {"params": {"max_issues": "x"}}, 422, "invalid_params"),
            ("style", {"selection": {"start": 0, "end": 10**6}}, 422, "invalid_selection"),
            ("style", {"apply": True}, 422, "not_applicable"),
            ("rewrite", {}, 422, "selection_required"),
        ]
        for agent, body, status, code in cases:
            response, _ = await invoke(http, server.http, "doc", agent, **body)
            assert (response.status_code, response.json()["error"]) == (status, code), agent
    response, _ = await invoke(http, server.http, "missing-doc", "style")
    assert response.status_code == 404


def _client_ids(state_vector: bytes) -> set[int]:
    from draftroom.crdt.protocol import read_varuint

    count, pos = read_varuint(state_vector, 0)
    ids = set()
    for _ in range(count):
        client, pos = read_varuint(state_vector, pos)
        _, pos = read_varuint(state_vector, pos)
        ids.add(client)
    return ids


async def test_requester_going_away_cancels_the_upstream_call(
    server: RunningServer, http: httpx.AsyncClient, llm: FakeOpenAI
) -> None:
    llm.behaviour.words = 500
    llm.behaviour.chunk_delay = 0.02
    async with writer(server, "doc", TEXT) as alice:
        url = f"{server.http}/api/documents/doc/agents/critique"
        async with http.stream("POST", url, json={}) as response:
            request = response.headers["x-request-id"]
            lines = response.aiter_lines()
            assert '"agent.start"' in await anext(lines)
            assert '"agent.chunk"' in await anext(lines)
        # The HTTP client hung up mid-reply: the LLM stream is closed, not run to the end.
        await llm.wait_for(lambda: llm.disconnects == 1)
        assert llm.completed == 0
        await eventually(
            lambda: any(e.get("code") == "cancelled" for e in agent_events(alice.app_log, request))
        )
        # What it generated before the cancel is still billed (estimated).
        await eventually(lambda: server.hub.feature(AgentService).flights.flights == {})
        usage = (await http.get(f"{server.http}/api/usage")).json()
        assert usage["totals"]["calls"] == 1 and usage["records"][0]["estimated"] is True


async def test_equal_selections_share_a_reply_but_keep_their_own_offsets(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    line = "We will utilize it."
    text = f"{line}\n{line}"
    async with writer(server, "twice", text):
        replies = []
        for start in (0, len(line) + 1):
            selection = {"start": start, "end": start + len(line)}
            response, events = await invoke(
                http, server.http, "twice", "style", selection=selection
            )
            replies.append((response.headers["x-agent-cache"], start, reply_of(events)))
    assert [source for source, _, _ in replies] == ["miss", "hit"]
    for _, start, chunks in replies:
        spans = [(i["start"], i["end"]) for c in chunks for i in c.get("issues", [])]
        at = start + line.index("utilize")
        assert (at, at + len("utilize")) in spans
        assert all(start <= s and e <= start + len(line) for s, e in spans)


async def test_a_socket_request_stops_on_cancel_and_when_its_connection_closes(
    server: RunningServer, llm: FakeOpenAI
) -> None:
    from draftroom.crdt.protocol import encode_app

    llm.behaviour.words = 500
    llm.behaviour.chunk_delay = 0.02

    def codes(client: DraftroomClient, request: str) -> list[str]:
        return [e.get("code", "") for e in agent_events(client.app_log, request)]

    def chunks(client: DraftroomClient, request: str) -> int:
        return sum(e["type"] == "agent.chunk" for e in agent_events(client.app_log, request))

    async with writer(server, "doc", TEXT) as alice, DraftroomClient(server.ws("doc")) as bob:
        invoke_critique = {"type": "agent.invoke", "agent": "critique"}
        # 1. agent.cancel from the requester.
        await bob.send_raw(encode_app({**invoke_critique, "request": "b1"}))
        await eventually(lambda: chunks(alice, "b1") >= 2)
        await bob.send_raw(encode_app({"type": "agent.cancel", "request": "b1"}))
        await eventually(lambda: "cancelled" in codes(alice, "b1"))
        await llm.wait_for(lambda: llm.disconnects == 1)
        # Cancelling what is not running (or not yours) is refused to the sender alone.
        await bob.send_raw(encode_app({"type": "agent.cancel", "request": "b1"}))
        await eventually(lambda: "unknown_request" in codes(bob, "b1"))
        assert "unknown_request" not in codes(alice, "b1")
        await bob.send_raw(encode_app({"type": "agent.cancel", "request": 7}))
        await eventually(lambda: any(e.get("code") == "unknown_request" and
                                     e.get("request") is None for e in bob.app_log))  # fmt: skip
        # A second request under an id already running is refused; the first goes on.
        await bob.send_raw(encode_app({**invoke_critique, "request": "b2"}))
        await bob.send_raw(encode_app({**invoke_critique, "request": "b2"}))
        await eventually(lambda: "duplicate_request" in codes(bob, "b2"))
        await eventually(lambda: chunks(alice, "b2") >= 2)
        await bob.send_raw(encode_app({"type": "agent.cancel", "request": "b2"}))
        await eventually(lambda: "cancelled" in codes(alice, "b2"))
        await llm.wait_for(lambda: llm.disconnects == 2)

        # 2. The requester's connection closes mid-reply.
        carol = DraftroomClient(server.ws("doc"))
        await carol.connect()
        await carol.send_raw(encode_app({**invoke_critique, "request": "c1"}))
        await eventually(lambda: chunks(alice, "c1") >= 2)
        await carol.close()
        await eventually(lambda: "cancelled" in codes(alice, "c1"))
        await llm.wait_for(lambda: llm.disconnects == 3)
        assert llm.completed == 0
        await eventually(lambda: server.hub.feature(AgentService).flights.flights == {})


async def test_rewrite_applies_in_tiptap_rich_text_even_after_concurrent_edits(
    server: RunningServer, http: httpx.AsyncClient, llm: FakeOpenAI
) -> None:
    from pycrdt import XmlElement, XmlFragment, XmlText

    from draftroom.document.text import read_text

    llm.behaviour.first_byte_delay = 0.8  # the concurrent edits land before the reply
    async with DraftroomClient(server.ws("rich")) as alice:
        before = alice.doc.get_state()
        fragment = alice.doc.get("default", type=XmlFragment)
        fragment.children.append(XmlElement("heading", {"level": 1}, [XmlText("Chapter")]))
        fragment.children.append(XmlElement("paragraph", {}, [XmlText("It was dark. It rained.")]))
        await alice.wait_saved(alice.send_update(alice.doc.get_update(before)))

        def ask_rewrite(selected: str) -> asyncio.Future[Any]:
            start = read_text(alice.doc).text.index(selected)
            return asyncio.ensure_future(
                invoke(http, server.http, "rich", "rewrite", apply=True,
                       selection={"start": start, "end": start + len(selected)})
            )  # fmt: skip

        async def edit(change: Callable[[], None]) -> None:
            before = alice.doc.get_state()
            change()
            await alice.wait_saved(alice.send_update(alice.doc.get_update(before)))

        asking = ask_rewrite("It was dark.")
        await llm.wait_for(lambda: len(llm.requests) == 1)
        # While the agent writes, Alice types before the selection: its offsets move.
        paragraph = fragment.children[1].children[0]
        await edit(lambda: paragraph.insert(0, "Suddenly. "))
        _, events = await asyncio.wait_for(asking, 20)
        assert events[-1]["type"] == "agent.done", events[-1]
        reply = "".join(c["text"] for c in reply_of(events)).strip()
        expected = f"Chapter\nSuddenly. {reply} It rained."
        await eventually(lambda: read_text(alice.doc).text == expected)
        # The heading is still a heading; the paragraph is still one paragraph.
        assert [child.tag for child in fragment.children] == ["heading", "paragraph"]

        # Once the selected words are gone, nothing is overwritten.
        asking = ask_rewrite("It rained.")
        await llm.wait_for(lambda: len(llm.requests) == 2)
        await edit(lambda: paragraph.__delitem__(slice(len(paragraph) - len(b"rained."), None)))
        _, events = await asyncio.wait_for(asking, 20)
        assert events[-1]["type"] == "agent.error" and events[-1]["code"] == "edit_conflict"
        assert read_text(server.hub.rooms["rich"].doc).text == f"Chapter\nSuddenly. {reply} It "


async def test_the_text_agents_read_is_reused_until_the_document_changes(
    server: RunningServer,
) -> None:
    service = server.hub.feature(AgentService)
    async with writer(server, "kept", "One sentence.") as alice:
        reads = service.texts.reads
        first = await service.read_document("kept")
        assert await service.read_document("kept") is first
        assert service.texts.reads == reads + 1
        await alice.wait_saved(alice.insert(" Two."))
        second = await service.read_document("kept")
        assert second is not first and second.text == "One sentence. Two."
        assert await service.read_document("kept") is second
        assert service.texts.reads == reads + 2

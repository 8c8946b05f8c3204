"""Two nodes in one process, sharing real PostgreSQL and real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.bus.redis import RedisBus
from draftroom.client import DraftroomClient
from draftroom.crdt.awareness import encode_update
from draftroom.crdt.protocol import encode_awareness


@pytest.fixture
async def nodes(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> AsyncIterator[list[RunningServer]]:
    async with AsyncExitStack() as stack:
        started = []
        for i in range(2):
            settings = make_settings(
                tmp_path / f"n{i}", postgres_url, redis_url=redis_url, catchup_seconds=0.5
            )
            started.append(await stack.enter_async_context(running_server(settings)))
        for node in started:
            await eventually(lambda n=node: n.hub.bus.status()[0])
        yield started


def bus(node: RunningServer) -> RedisBus:
    assert isinstance(node.hub.bus, RedisBus)
    return node.hub.bus


async def test_edits_and_presence_cross_nodes(nodes: list[RunningServer]) -> None:
    one, two = nodes
    async with (
        DraftroomClient(one.ws("doc")) as alice,
        DraftroomClient(two.ws("doc")) as bob,
    ):
        await asyncio.sleep(0.2)  # subscriptions settle
        last = 0
        for ch in "hello":
            last = alice.insert(ch)
        await alice.wait_saved(last)
        await eventually(lambda: str(bob.text) == "hello")
        await bob.wait_saved(bob.insert(" world"))
        await eventually(lambda: str(alice.text) == "hello world")
        # Versions agree on both nodes: every seq was applied exactly once.
        await eventually(lambda: one.hub.rooms["doc"].version == two.hub.rooms["doc"].version == 6)
        # Presence crosses nodes and is removed everywhere when its client leaves.
        await alice.send_raw(encode_awareness(encode_update([(77, 1, b'{"name":"Alice"}')])))
        await eventually(lambda: 77 in two.hub.rooms["doc"].awareness.entries)
        frames = bob.awareness_frames
        await alice.close()
        await eventually(lambda: 77 not in two.hub.rooms["doc"].awareness.entries)
        await eventually(lambda: bob.awareness_frames > frames)


async def test_a_node_subscribes_only_while_hosting(nodes: list[RunningServer]) -> None:
    one, _ = nodes
    async with DraftroomClient(one.ws("hosted")) as client:
        await client.wait_saved(client.insert("x"))
        assert "hosted" in bus(one).docs
    await eventually(lambda: "hosted" not in bus(one).docs)


async def test_gap_repair_when_pubsub_drops_half_the_updates(nodes: list[RunningServer]) -> None:
    one, two = nodes
    bus(two)._drop_inbound = 0.5
    async with (
        DraftroomClient(one.ws("doc")) as writer,
        DraftroomClient(two.ws("doc")) as reader,
    ):
        await asyncio.sleep(0.2)
        last = 0
        for i in range(60):
            last = writer.insert(f"{i},")
            await asyncio.sleep(0.002)
        await writer.wait_saved(last)
        await eventually(lambda: str(reader.text) == str(writer.text))
        assert two.hub.rooms["doc"].gap_repairs > 0


async def test_periodic_catch_up_when_every_message_is_lost(nodes: list[RunningServer]) -> None:
    one, two = nodes
    bus(two)._drop_inbound = 1.0
    async with (
        DraftroomClient(one.ws("doc")) as writer,
        DraftroomClient(two.ws("doc")) as reader,
    ):
        await writer.wait_saved(writer.insert("only the store knows"))
        await eventually(lambda: str(reader.text) == "only the store knows")


async def test_redis_restart_disconnects_nobody_and_loses_nothing(
    nodes: list[RunningServer], redis_server
) -> None:  # type: ignore[no-untyped-def]
    one, two = nodes
    async with (
        DraftroomClient(one.ws("doc")) as alice,
        DraftroomClient(two.ws("doc")) as bob,
    ):
        await asyncio.sleep(0.2)
        await alice.wait_saved(alice.insert("before "))
        await eventually(lambda: str(bob.text) == "before ")
        redis_server.stop()
        try:
            await eventually(lambda: not bus(one).status()[0], within=15)
            async with httpx.AsyncClient() as http:
                ready = (await http.get(f"{one.http}/readyz")).json()
            assert ready["status"] == "degraded" and ready["checks"]["bus"] != "ok"
            # Both nodes keep serving and saving their own clients meanwhile.
            await alice.wait_saved(alice.insert("during-a "))
            await bob.wait_saved(bob.insert("during-b "))
        finally:
            redis_server.start()
        await eventually(lambda: bus(one).status()[0] and bus(two).status()[0], within=20)
        await eventually(lambda: str(alice.text) == str(bob.text), within=15)
        for part in ("before ", "during-a ", "during-b "):
            assert part in str(alice.text)
        assert alice.close_code is None and bob.close_code is None
        await alice.wait_saved(alice.insert("after"))
        await eventually(lambda: str(bob.text).endswith("after"))

"""Dependency faults on two real nodes: Redis down or hung, compaction racing an
outage, a full disk, a stalled commit queue. Each test reproduces a fault that once
left a node serving a stale document, reporting a wrong state, or hiding an error."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.redis import RedisServer
from draftroom.bus.redis import RedisBus
from draftroom.client import DraftroomClient
from draftroom.store.base import StoreError
from draftroom.store.sqlite import SQLiteStore


async def eventually(check, within: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    """Wait for check() to hold; return how long it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not check():
        if loop.time() - started > within:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
    return loop.time() - started


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, free to be stopped, hung or killed."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        if server.pid is not None:
            try:
                os.kill(server.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        server.cleanup()


async def _two_nodes(
    stack: AsyncExitStack, tmp_path: Path, postgres_url: str, redis_url: str, **overrides: object
) -> list[RunningServer]:
    nodes = []
    for i in range(2):
        settings = make_settings(tmp_path / f"n{i}", postgres_url, redis_url=redis_url, **overrides)
        nodes.append(await stack.enter_async_context(running_server(settings)))
    for node in nodes:
        await eventually(lambda n=node: n.hub.bus.status()[0])
    return nodes


def bus(node: RunningServer) -> RedisBus:
    assert isinstance(node.hub.bus, RedisBus)
    return node.hub.bus


async def content(node: RunningServer, doc_id: str) -> str:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{node.http}/api/documents/{doc_id}/content")).json()
    return str(body["text"])


# -- F1: catch-up converges even when compaction folded everything it missed ---------


async def test_catch_up_converges_after_compaction_folded_the_whole_outage(
    tmp_path: Path, postgres_url: str, own_redis: RedisServer
) -> None:
    async with AsyncExitStack() as stack:
        # A long period: the only repair is the catch-up on reconnect (and later passes).
        one, two = await _two_nodes(
            stack, tmp_path, postgres_url, own_redis.url, compact_after=10, catchup_seconds=3.0
        )
        async with (
            DraftroomClient(one.ws("doc")) as alice,
            DraftroomClient(two.ws("doc")) as bob,
        ):
            await alice.wait_saved(alice.insert("before "))
            await eventually(lambda: str(bob.text) == "before ")
            own_redis.stop()
            for i in range(12):
                await alice.wait_saved(alice.insert(f"m{i} "))
            # Fold every missed update into the snapshot: no log rows remain after it.
            await one.hub.store.compact("doc")
            assert await one.hub.store.updates_since("doc", 1) == []
            own_redis.start()
            expected = str(alice.text)
            await eventually(lambda: str(bob.text) == expected, within=15)
            assert await content(two, "doc") == expected
            assert two.hub.rooms.rooms["doc"].version == one.hub.rooms.rooms["doc"].version


# -- F2: a node with no writer keeps up while the bus is down ------------------------


@pytest.mark.parametrize("fault", ["down", "hung"])
async def test_reader_node_keeps_up_while_redis_fails_and_writing_goes_on(
    tmp_path: Path, postgres_url: str, own_redis: RedisServer, fault: str
) -> None:
    async with AsyncExitStack() as stack:
        one, two = await _two_nodes(
            stack, tmp_path, postgres_url, own_redis.url, catchup_seconds=0.5
        )
        async with (
            DraftroomClient(one.ws("doc")) as writer,
            DraftroomClient(two.ws("doc")) as reader,
        ):
            await writer.wait_saved(writer.insert("start "))
            await eventually(lambda: str(reader.text) == "start ")
            if fault == "down":
                own_redis.stop()
            else:
                assert own_redis.pid is not None
                os.kill(own_redis.pid, signal.SIGSTOP)
            await eventually(lambda: not bus(one).status()[0] and not bus(two).status()[0])
            # Writing goes on the whole time, whatever the reader sees: the stored
            # version never stops moving.
            written: dict[str, float] = {}
            last = [0]

            async def write() -> None:
                for i in range(60):
                    written[f"w{i} "] = asyncio.get_running_loop().time()
                    last[0] = writer.insert(f"w{i} ")
                    await asyncio.sleep(0.1)

            writing = asyncio.get_running_loop().create_task(write())
            try:
                await asyncio.sleep(1.0)
                marker = list(written)[-1]
                await eventually(lambda: marker in str(reader.text), within=5)
                lag = asyncio.get_running_loop().time() - written[marker]
                assert not writing.done(), "the reader caught up only once writing stopped"
                assert lag < 2.5, lag
            finally:
                await writing
            await writer.wait_saved(last[0])
            await eventually(lambda: str(reader.text) == str(writer.text), within=5)


# -- F4: bus health recovers after a hang, and an idle node notices one --------------


async def test_bus_health_recovers_after_a_redis_hang_on_an_idle_node(
    tmp_path: Path, postgres_url: str, own_redis: RedisServer
) -> None:
    async with AsyncExitStack() as stack:
        one, two = await _two_nodes(stack, tmp_path, postgres_url, own_redis.url)
        async with DraftroomClient(one.ws("doc")) as alice:
            await alice.wait_saved(alice.insert("x"))
            assert own_redis.pid is not None
            os.kill(own_redis.pid, signal.SIGSTOP)
            try:
                # Node two publishes nothing, yet notices the hang.
                await eventually(lambda: not bus(two).status()[0], within=10)
                # Node one publishes during the hang.
                await alice.wait_saved(alice.insert("y"))
                await eventually(lambda: not bus(one).status()[0], within=10)
            finally:
                os.kill(own_redis.pid, signal.SIGCONT)
            await eventually(lambda: bus(one).status()[0] and bus(two).status()[0], within=15)
            async with httpx.AsyncClient() as http:
                for node in (one, two):
                    ready = (await http.get(f"{node.http}/readyz")).json()
                    assert ready["status"] == "ready", ready


# -- F5: a full disk is reported as such ---------------------------------------------


async def test_full_disk_reports_the_root_cause(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    await store.open()
    try:
        page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        # SQLITE_FULL once the file would grow past a few more pages.
        store.db.execute(f"PRAGMA max_page_count = {pages + 4}")
        with pytest.raises(StoreError) as raised:
            await store._write_batch([("doc", b"x" * (page_size * 16))])
        assert "full" in str(raised.value), str(raised.value)
        assert "cannot rollback" not in str(raised.value)
        assert not store.db.in_transaction
        # The store still works for what fits.
        assert await store._write_batch([("doc", b"small")]) == [1]
    finally:
        await store.close()


def test_rollback_helper_keeps_quiet_when_sqlite_already_rolled_back(tmp_path: Path) -> None:
    from draftroom.store.sql import rollback

    db = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    rollback(db)  # nothing open: nothing to do, nothing raised
    db.execute("BEGIN")
    db.execute("CREATE TABLE t (x)")
    rollback(db)
    assert not db.in_transaction
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    db.close()


# -- F6: a bounded commit queue, writers told to wait, readiness that sees it ---------


async def test_stalled_store_bounds_the_queue_tells_writers_and_fails_readiness(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, commit_queue_max=50, commit_stall_seconds=1.0)
    async with running_server(settings) as server, DraftroomClient(server.ws("doc")) as alice:
        saved = await alice.wait_saved(alice.insert("before ")) and alice.saved_upto
        committer = server.hub.store.committer
        # Another process holds the write lock: every commit waits on it.
        locker = sqlite3.connect(tmp_path / "draftroom.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            last = 0
            for i in range(200):
                last = alice.insert(f"{i} ")
            await eventually(lambda: any(m.get("code") == "saving_slow" for m in alice.app_log))
            peak = committer.pending
            await asyncio.sleep(1.5)
            peak = max(peak, committer.pending)
            assert peak <= 50, peak
            assert alice.saved_upto == saved, "nothing is acknowledged before it is saved"
            async with httpx.AsyncClient(timeout=10) as http:
                ready = await http.get(f"{server.http}/readyz")
            assert ready.status_code == 503, ready.text
            assert "stalled" in ready.json()["checks"]["store"]
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await alice.wait_saved(last, within=30)
        assert alice.close_code is None
        state = await server.hub.store.load("doc")
        assert state.seq == 201
        async with httpx.AsyncClient(timeout=10) as http:
            ready = await http.get(f"{server.http}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text


# -- F3: SIGTERM drains with a real deadline, closes with 1012, exits cleanly --------


async def test_sigterm_during_a_store_stall_closes_1012_within_the_deadline(
    draftroom_process,  # type: ignore[no-untyped-def]
) -> None:
    node = draftroom_process("--drain-seconds", "2")
    client = DraftroomClient(node.ws_url("doc"))
    await client.connect()
    await client.wait_saved(client.insert("saved "))
    acked_before = client.saved_upto
    # Another process holds the SQLite write lock: commits wait, then fail and retry.
    locker = sqlite3.connect(node.data_dir / "draftroom.sqlite3", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        for i in range(20):
            client.insert(f"[{i}]")
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        code = await loop.run_in_executor(None, node.terminate, 30.0)
        took = loop.time() - started
        assert await client.wait_closed(5) == 1012
        # --drain-seconds 2, then at most a few seconds to close everything else.
        assert took < 2 + 5, took
        assert code == 1, "a drain that left saves pending says so"
        assert client.saved_upto == acked_before, "nothing unsaved was acknowledged"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    log = node.stdout_path.read_text() + node.stderr_path.read_text()
    assert "drain: 1 clients, 20 saves pending" in log, log[-2000:]
    assert "saves still pending" in log


async def test_sigterm_with_a_healthy_store_exits_0_and_logs_the_drain(
    draftroom_process,  # type: ignore[no-untyped-def]
) -> None:
    node = draftroom_process()
    async with DraftroomClient(node.ws_url("doc")) as client:
        for i in range(50):
            client.insert(f"[{i}]")
        await asyncio.sleep(0.2)  # the frames have reached the server (saved or not)
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, node.terminate, 15.0)
        assert await client.wait_closed(5) == 1012
        assert code == 0
        assert client.saved_upto == client.sent_updates
    log = node.stdout_path.read_text() + node.stderr_path.read_text()
    assert "drain: done" in log and "every save finished" in log, log[-2000:]


async def test_commit_health_reports_failures_then_recovers_when_idle() -> None:
    from draftroom.store.group_commit import GroupCommitter

    fail = True

    async def write_batch(batch):  # type: ignore[no-untyped-def]
        if fail:
            raise OSError("disk on fire")
        return list(range(1, len(batch) + 1))

    committer = GroupCommitter(write_batch, retry_for=0.0)
    committer.start()
    try:
        saved = committer.submit("doc", b"x")
        with pytest.raises(StoreError):
            await saved
        healthy, reason = committer.status(stall_seconds=0.3)
        assert not healthy and "disk on fire" in reason
        # Idle afterwards: one old failure does not keep the node unready forever.
        await asyncio.sleep(0.4)
        assert committer.status(stall_seconds=0.3) == (True, "ok")
        fail = False
        assert await committer.submit("doc", b"y") == 1
        assert committer.status(stall_seconds=0.3) == (True, "ok")
    finally:
        await committer.close()

"""Three real node processes behind HAProxy, with real Redis and PostgreSQL,
and unmodified JavaScript y-websocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from devtools.cluster import Cluster
from devtools.jsclient import JSHarness

NODE_ARGS: tuple[str, ...] = ("--catchup-seconds", "0.5", "--allow-anonymous")  # no accounts here


@pytest.fixture
def cluster(postgres_url: str, redis_url: str) -> Iterator[Cluster]:
    running = Cluster(3, node_args=NODE_ARGS, postgres_url=postgres_url, redis_url=redis_url)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def is_subsequence(word: str, text: str) -> bool:
    chars = iter(text)
    return all(ch in chars for ch in word)


async def converged(
    js: JSHarness,
    names: list[str],
    within: float = 20.0,
    cluster: Cluster | None = None,
    doc: str = "doc",
) -> str:
    texts: set[str] = set()
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        texts = {await js.text(n) for n in names}
        if len(texts) == 1:
            return texts.pop()
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"clients did not converge:\n{await split_report(js, names, cluster, doc)}"
    )


async def split_report(js: JSHarness, names: list[str], cluster: Cluster | None, doc: str) -> str:
    """Who holds which text, whether Yjs parked content it could not place, how each
    client's socket closed, and what the live nodes stored: a split seen once in 50
    runs must say where the content stopped."""
    lines = []
    for n in names:
        state = await js.state(n)
        status = await js.status(n)
        lines.append(
            f"client {n}: {await js.text(n)!r} pending={state.get('pending')}"
            f" sv={state['state_vector']} closes={status.get('close_events')}"
        )
    for node in cluster.nodes if cluster is not None else []:
        if not node.running:
            continue
        try:
            lines.append(f"node {node.http_url}: {await stored_text(node.http_url, doc)!r}")
        except httpx.HTTPError as exc:
            lines.append(f"node {node.http_url}: {exc!r}")
    return "\n".join(lines)


async def stored_text(base_url: str, doc: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{base_url}/api/documents/{doc}/content")
        response.raise_for_status()
        return str(response.json()["text"])


WORDS = {"a": "amber-", "b": "basil-", "c": "cobalt-", "d": "dahlia-", "e": "ember-", "f": "fig-"}


async def test_js_clients_spread_over_three_nodes_converge_with_presence(
    cluster: Cluster, js: JSHarness
) -> None:
    names = list(WORDS)
    for i, name in enumerate(names):
        node = cluster.nodes[i % 3]
        await js.open(name, node.ws_base, "shared", awareness={"user": {"name": name}})
    for name in names:
        await js.wait_synced(name)
    await asyncio.gather(*(js.type(n, WORDS[n], interval_ms=10) for n in names))
    final = await converged(js, names)
    assert sorted(final) == sorted("".join(WORDS.values()))
    assert all(is_subsequence(w, final) for w in WORDS.values())
    # Everyone sees everyone's presence, whichever node they are on.
    await js.wait_awareness("a", len(names), timeout=15)
    seen = await js.awareness("a")
    assert sorted(s["user"]["name"] for s in seen.values()) == sorted(names)
    # Every node's store view agrees (one PostgreSQL, so the same rows).
    await asyncio.sleep(0.3)
    assert await stored_text(cluster.nodes[2].http_url, "shared") == final


@pytest.mark.parametrize("stop", ["kill9", "sigterm"])
async def test_losing_a_node_mid_editing_loses_nothing(
    cluster: Cluster, js: JSHarness, stop: str
) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        await js.open(name, cluster.ws_base, "doc", max_backoff_ms=300)
    for name in names:
        await js.wait_synced(name)
    typing = asyncio.gather(*(js.type(n, WORDS[n] * 4, interval_ms=25) for n in names))
    await asyncio.sleep(0.6)
    # leastconn put at least one client on node0. SIGTERM drains it (flush, then
    # close 1012); kill -9 gives it no chance at all.
    if stop == "kill9":
        cluster.nodes[0].kill9()
    else:
        await asyncio.get_running_loop().run_in_executor(None, cluster.nodes[0].terminate)
    await typing
    final = await converged(js, names, within=30, cluster=cluster)
    for n in names:
        assert is_subsequence(WORDS[n] * 4, final), n
        # Nothing parked on a client waiting for content that died with the node.
        assert not (await js.state(n))["pending"], await split_report(js, names, cluster, "doc")
    assert sorted(final) == sorted("".join(WORDS[n] * 4 for n in names))
    # Everything typed, acknowledged or not, reached the store through the survivors.
    for _ in range(50):
        if await stored_text(cluster.nodes[1].http_url, "doc") == final:
            break
        await asyncio.sleep(0.1)
    assert await stored_text(cluster.nodes[1].http_url, "doc") == final


async def test_redis_restart_mid_editing_converges(
    cluster: Cluster, js: JSHarness, redis_server
) -> None:  # type: ignore[no-untyped-def]
    names = ["a", "b", "c"]
    for i, name in enumerate(names):
        await js.open(name, cluster.nodes[i].ws_base, "doc", draftroom=True)
    for name in names:
        await js.wait_synced(name)
    typing = asyncio.gather(*(js.type(n, WORDS[n] * 3, interval_ms=20) for n in names))
    await asyncio.sleep(0.3)
    redis_server.stop()
    try:
        await asyncio.sleep(1.0)
    finally:
        redis_server.start()
    await typing
    final = await converged(js, names, within=30)
    assert sorted(final) == sorted("".join(WORDS[n] * 3 for n in names))
    for name in names:
        status = await js.status(name)
        assert status["closes"] == 0, f"{name} was disconnected by a Redis restart"
    for _ in range(50):
        if await stored_text(cluster.nodes[0].http_url, "doc") == final:
            break
        await asyncio.sleep(0.1)
    assert await stored_text(cluster.nodes[0].http_url, "doc") == final


@pytest.fixture
def proxied(postgres_url: str, redis_url: str) -> Iterator[Cluster]:
    running = Cluster(
        1,
        node_args=("--login-ip-rate-per-minute", "3"),
        postgres_url=postgres_url,
        redis_url=redis_url,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_behind_haproxy_limits_count_the_real_client(proxied: Cluster) -> None:
    # Through the shipped HAProxy configuration, forged entries do not evade the limit...
    guess = {"username": "nobody", "password": "guess-123456"}
    with httpx.Client(base_url=proxied.url) as http:
        codes = [
            http.post("/api/sessions", json=guess, headers={"X-Forwarded-For": f"10.0.{i}.1"})
            for i in range(5)
        ]
    assert [r.status_code for r in codes] == [401, 401, 401, 429, 429]
    # ...and the node does not see every client as the proxy: another real client
    # (127.0.0.3 here) is not limited by the first one's attempts.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=proxied.url, transport=transport) as http:
        r = http.post("/api/sessions", json=guess)
        assert r.status_code == 401, r.text

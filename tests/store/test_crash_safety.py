"""No acknowledged edit is ever lost: kill -9 and SIGTERM against real processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from draftroom.client import DraftroomClient


@pytest.fixture(params=["sqlite", "postgres"])
def server_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    if request.param == "postgres":
        return ("--database-url", request.getfixturevalue("postgres_url"))
    return ()


async def _type_tokens(client: DraftroomClient, name: str, sent: dict[int, str]) -> None:
    """Type numbered tokens until the connection dies; remember which update carried which."""
    i = 0
    while client.close_code is None and i < 5000:
        token = f"<{name}{i}>"
        sent[client.insert(token)] = token
        i += 1
        await asyncio.sleep(0.003)


async def _content(http_url: str, doc: str) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{http_url}/api/documents/{doc}/content")
        response.raise_for_status()
        return str(response.json()["text"])


async def test_kill9_loses_no_acknowledged_edit(server_args, draftroom_process) -> None:  # type: ignore[no-untyped-def]
    node = draftroom_process(*server_args)
    writers = [DraftroomClient(node.ws_url(f"doc-{i % 2}")) for i in range(4)]
    await asyncio.gather(*(w.connect() for w in writers))
    sent: list[dict[int, str]] = [{} for _ in writers]
    typing = [
        asyncio.create_task(_type_tokens(w, f"w{i}-", sent[i])) for i, w in enumerate(writers)
    ]
    # Let edits flow and be acknowledged, then kill the server mid-typing. The first
    # acknowledged update is the client's sync step 2, not a token: wait for more
    # than 21 so that more than 20 tokens are acknowledged however slow the machine.
    for _ in range(500):
        if all(w.saved_upto > 25 for w in writers):
            break
        await asyncio.sleep(0.02)
    assert all(w.saved_upto > 25 for w in writers), "edits were not acknowledged"
    node.kill9()
    await asyncio.wait_for(asyncio.gather(*typing), 10)
    acked = [
        {tok for n, tok in s.items() if n <= w.saved_upto}
        for w, s in zip(writers, sent, strict=True)
    ]
    assert all(len(a) > 20 for a in acked)
    await asyncio.gather(*(w.close() for w in writers))

    node.restart()
    texts = {doc: await _content(node.http_url, doc) for doc in ("doc-0", "doc-1")}
    for i, tokens in enumerate(acked):
        text = texts[f"doc-{i % 2}"]
        missing = [t for t in tokens if t not in text]
        assert not missing, f"writer {i} lost {len(missing)} acknowledged edits"


async def test_sigterm_drains_saves_then_closes_1012(server_args, draftroom_process) -> None:  # type: ignore[no-untyped-def]
    node = draftroom_process(*server_args)
    client = DraftroomClient(node.ws_url("doc"))
    await client.connect()
    for i in range(200):
        client.insert(f"[{i}]")
    await asyncio.sleep(0.01)
    stop = asyncio.get_running_loop().run_in_executor(None, node.terminate)
    assert await client.wait_closed(15) == 1012
    await stop
    # Everything the client sent before the drain began was saved, acked or not.
    assert client.saved_upto == client.sent_updates
    node.restart()
    text = await _content(node.http_url, "doc")
    assert all(f"[{i}]" in text for i in range(200))

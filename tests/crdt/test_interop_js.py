"""Unmodified JavaScript y-websocket clients against a real Draftroom process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.jsclient import JSHarness


def is_subsequence(word: str, text: str) -> bool:
    chars = iter(text)
    return all(ch in chars for ch in word)


async def converged(js: JSHarness, names: tuple[str, ...]) -> str:
    texts: set[str] = set()
    for _ in range(200):
        texts = {await js.text(n) for n in names}
        if len(texts) == 1:
            return texts.pop()
        await asyncio.sleep(0.05)
    raise AssertionError(f"clients did not converge: {texts}")


@pytest.fixture(params=["sqlite", "postgres"])
def node(request: pytest.FixtureRequest, draftroom_process):  # type: ignore[no-untyped-def]
    args: tuple[str, ...] = ()
    if request.param == "postgres":
        args = ("--database-url", request.getfixturevalue("postgres_url"))
    return draftroom_process(*args)


async def test_three_js_clients_converge_and_a_late_fourth_gets_everything(
    js: JSHarness, node
) -> None:  # type: ignore[no-untyped-def]
    url = node.ws_base
    for name in ("a", "b", "c"):
        await js.open(name, url, "novel", draftroom=(name == "a"))
    for name in ("a", "b", "c"):
        await js.wait_synced(name)
    # Concurrent typing, one Yjs update per character, interleaved in time.
    await asyncio.gather(
        js.type("a", "alpha-", interval_ms=5),
        js.type("b", "bravo-", interval_ms=5),
        js.type("c", "charlie-", interval_ms=5),
    )
    final = await converged(js, ("a", "b", "c"))
    assert sorted(final) == sorted("alpha-bravo-charlie-")
    for word in ("alpha-", "bravo-", "charlie-"):
        assert is_subsequence(word, final), (word, final)
    # A delete after the typing converges too.
    await js.delete("c", 0, 6)
    final = await converged(js, ("a", "b", "c"))
    assert len(final) == len("alpha-bravo-charlie-") - 6
    # Client a opted in: it got a welcome and save acknowledgements.
    acks = await js.wait_acks("a", 1)
    assert acks[-1]["type"] == "saved"
    # A fourth client joining later gets the full state.
    await js.open("d", url, "novel")
    await js.wait_synced("d")
    await js.wait_text("d", final)
    # Presence: everyone sees everyone.
    for name in ("a", "b", "c", "d"):
        await js.set_awareness(name, {"user": {"name": name.upper()}})
    await js.wait_awareness("a", 4)
    seen = await js.awareness("a")
    assert sorted(s["user"]["name"] for s in seen.values()) == ["A", "B", "C", "D"]
    # And what the server stored is what they see.
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient() as http:
        content = (await http.get(f"{node.http_url}/api/documents/novel/content")).json()
    assert content["text"] == final


async def test_presence_removed_when_a_js_client_leaves(js: JSHarness, node) -> None:  # type: ignore[no-untyped-def]
    await js.open("stay", node.ws_base, "doc", awareness={"user": {"name": "Stay"}})
    await js.open("go", node.ws_base, "doc", awareness={"user": {"name": "Go"}})
    await js.wait_awareness("stay", 2)
    await js.close("go")
    for _ in range(100):
        if len(await js.awareness("stay")) == 1:
            break
        await asyncio.sleep(0.05)
    assert [s["user"]["name"] for s in (await js.awareness("stay")).values()] == ["Stay"]

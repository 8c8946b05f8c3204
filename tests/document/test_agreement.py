"""The content API, the exporter and the agents read the same text from every document.

Each reads its own way — /content serves ProseMirror JSON (or the Y.Text), the
exporter reads stored bytes in a worker, agents flatten the live room — so each
is asked through its real entry point, and their words must match.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from export.builders import B, h, li, make_doc, p, plain_doc, ul
from export.samples import rich_doc
from pycrdt import Doc, Text

from devtools.inprocess import RunningServer, make_settings, running_server
from draftroom.agents.service import AgentService
from draftroom.client import DraftroomClient
from draftroom.document.tree import Text as Run
from draftroom.document.tree import iter_inlines, plain_text
from draftroom.export.worker import Source, read_source

WORD = re.compile(r"\w+")


def mixed() -> Doc:
    # A stray Y.Text next to the rich root: every reader must pick the rich root.
    doc = make_doc(h(2, "Rich wins"), p("over ", ("plain", B)), name="prosemirror")
    doc.get("text", type=Text).insert(0, "stray plain text")
    return doc


DOCUMENTS = {
    "tiptap": lambda: rich_doc("default"),
    "y-prosemirror": lambda: rich_doc("prosemirror"),
    "lists": lambda: make_doc(ul(li("one", ul(li("two"))), li("three")), name="prosemirror"),
    "plain": lambda: plain_doc("First line.\n\nThird line, after a blank one."),
    "mixed": mixed,
    "empty": Doc,
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path)) as running:
        yield running


def pm_text(node: dict[str, Any]) -> Iterator[str]:
    """The text nodes of ProseMirror JSON, in order, hard breaks as newlines."""
    if node.get("type") == "hardBreak":
        yield "\n"
    if isinstance(node.get("text"), str):
        yield node["text"]
    for child in node.get("content", []):
        yield from pm_text(child)
        yield "\n"


@pytest.mark.parametrize("name", list(DOCUMENTS))
async def test_content_export_and_agents_read_the_same_text(
    server: RunningServer, name: str
) -> None:
    doc = DOCUMENTS[name]()
    async with DraftroomClient(server.ws(name)) as client:
        update = doc.get_update()
        client.doc.apply_update(update)
        await client.wait_saved(client.send_update(update))
        async with httpx.AsyncClient(base_url=server.http) as http:
            answer = (await http.get(f"/api/documents/{name}/content")).json()
        agents = (await server.hub.feature(AgentService).read_document(name)).text
        state = await server.hub.store.load(name)
        exported = read_source(Source(name, name, state.snapshot, state.updates))

    if "prosemirror" in answer:
        assert "text" not in answer
        content = "".join(pm_text(answer["prosemirror"]))
        export = " ".join(r.text for r in iter_inlines(exported.blocks) if isinstance(r, Run))
    else:
        # A plain document is the same string everywhere, line for line.
        content = answer["text"]
        export = plain_text(exported.blocks)
        assert content == agents == export
    assert WORD.findall(content) == WORD.findall(agents) == WORD.findall(export)
    if name != "empty":
        assert WORD.findall(content), "a sample must have words to compare"
    if name == "mixed":
        assert "stray" not in agents

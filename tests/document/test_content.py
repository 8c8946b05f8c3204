"""What ``GET /api/documents/{id}/content`` answers: ProseMirror JSON or plain text."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from export.builders import B, make_doc, p, plain_doc
from pycrdt import Doc, Map, Text, XmlFragment

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.jsclient import find_node
from draftroom.client import DraftroomClient
from draftroom.document.text import content

JS = Path(__file__).parents[1] / "js"


def js_document(fragment: str) -> tuple[Doc, dict[str, Any]]:
    """A document written by the real Yjs, and its ProseMirror JSON as serialized in JS."""
    done = subprocess.run(
        [find_node(), str(JS / "prosemirror_json.mjs"), fragment],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(done.stdout)
    doc: Doc = Doc()
    doc.apply_update(base64.b64decode(out["update"]))
    return doc, out["json"]


def canonical(node: Any) -> str:
    def sort_marks(value: Any) -> Any:
        if isinstance(value, list):
            return [sort_marks(v) for v in value]
        if isinstance(value, dict):
            out = {k: sort_marks(v) for k, v in value.items()}
            if "marks" in out:
                out["marks"] = sorted(out["marks"], key=lambda m: m["type"])
            return out
        return value

    return json.dumps(sort_marks(node), sort_keys=True)


@pytest.mark.parametrize("fragment", ["default", "prosemirror"])
def test_prosemirror_json_is_what_the_js_side_serializes(fragment: str) -> None:
    doc, expected = js_document(fragment)
    got = content(doc)
    assert list(got) == ["prosemirror"]
    # Compared as JSON text: 2 and 2.0 are equal in Python but not on the wire. Mark
    # order is not kept by pycrdt (ProseMirror sorts marks by its schema on reading).
    assert canonical(got["prosemirror"]) == canonical(expected)
    marks = [n.get("marks") for n in got["prosemirror"]["content"][1]["content"]]
    assert marks[3] == [{"type": "bold", "attrs": {}}, {"type": "italic", "attrs": {}}]
    heading = got["prosemirror"]["content"][0]
    assert heading["attrs"]["level"] == 2 and isinstance(heading["attrs"]["level"], int)
    sized = got["prosemirror"]["content"][1]["content"][6]
    assert sized["marks"] == [{"type": "textStyle", "attrs": {"fontSize": 12, "lineHeight": 1.5}}]


def test_plain_empty_and_mixed_documents() -> None:
    assert content(plain_doc("one\ntwo")) == {"text": "one\ntwo"}
    assert content(Doc()) == {"text": ""}
    # A rich root wins over a stray Y.Text, as in exports and agents.
    mixed = make_doc(p("rich"), name="prosemirror")
    mixed.get("text", type=Text).insert(0, "stray")
    assert content(mixed)["prosemirror"]["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "rich"}]}
    ]
    # An empty "default" fragment does not hide a filled "prosemirror" one.
    both = make_doc(p("second"), name="prosemirror")
    both.get("default", type=XmlFragment)
    assert "prosemirror" in content(both)


def test_roots_written_as_other_types_read_as_empty() -> None:
    # "default" written as a Y.Text and "text" as a Y.Map by some other client:
    # the content API must answer (empty), not fail.
    other: Doc = Doc()
    other.get("default", type=Text).insert(0, "not xml")
    other.get("text", type=Map)["k"] = "v"
    doc: Doc = Doc()
    doc.apply_update(other.get_update())
    assert content(doc) == {"text": ""}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(make_settings(tmp_path)) as running:
        yield running


async def write(server: RunningServer, doc_id: str, doc: Doc) -> None:
    async with DraftroomClient(server.ws(doc_id)) as client:
        update = doc.get_update()
        client.doc.apply_update(update)
        await client.wait_saved(client.send_update(update))


@pytest.mark.parametrize("fragment", ["default", "prosemirror"])
async def test_content_api_returns_prosemirror_json(server: RunningServer, fragment: str) -> None:
    await write(server, "book", make_doc(p("It was a ", ("dark", B), " night."), name=fragment))
    expected = {
        "type": "doc",
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "It was a "},
                    {"type": "text", "text": "dark", "marks": [{"type": "bold", "attrs": {}}]},
                    {"type": "text", "text": " night."},
                ],
            }
        ],
    }
    async with httpx.AsyncClient(base_url=server.http) as http:
        async with DraftroomClient(server.ws("book")):  # the room is open: read live
            live = (await http.get("/api/documents/book/content")).json()
        await asyncio.sleep(0.4)  # past the grace period: read from the store
        assert "book" not in server.hub.rooms.rooms
        stored = (await http.get("/api/documents/book/content")).json()
    for answer in (live, stored):
        assert answer == {"id": "book", "version": 1, "prosemirror": expected}


async def test_content_api_returns_text_of_a_plain_document(server: RunningServer) -> None:
    async with DraftroomClient(server.ws("notes")) as client:
        await client.wait_saved(client.insert("line one\nline two"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = (await http.get("/api/documents/notes/content")).json()
    assert answer == {"id": "notes", "version": 1, "text": "line one\nline two"}

"""Import over HTTP against a real server, on both stores: each format in, editors
see it live, bad files get clear errors and change nothing."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devtools.inprocess import RunningServer, make_settings, running_server
from devtools.waiting import eventually
from draftroom.client import DraftroomClient
from draftroom.document.reader import read_document
from draftroom.document.tree import (
    BOLD,
    Document,
    Heading,
    Mark,
    Paragraph,
    Table,
    TaskList,
    Text,
    plain_text,
)
from draftroom.export import export_documents

CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE file: encrypted .docx or legacy .doc
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunningServer]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    settings = make_settings(tmp_path, url, import_max_bytes=2 * 1024 * 1024)
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        yield client


def sample_docx() -> bytes:
    doc = Document(
        "Novel",
        [
            Heading(1, [Text("Chapter One")]),
            Paragraph([Text("It was a "), Text("dark", frozenset({Mark(BOLD)})), Text(" night.")]),
        ],
    )
    return export_documents([doc], "docx")


MARKDOWN = (
    b"# Title here\n\nSome *text*.\n\n- [x] done\n- [ ] todo\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


async def content(server: RunningServer, http: httpx.AsyncClient, doc_id: str) -> Document:
    room = server.hub.rooms.rooms.get(doc_id)
    response = await http.get(f"/api/documents/{doc_id}/content")
    assert response.status_code == 200, response.text
    if room is not None:
        return read_document(room.doc, "")
    from draftroom.document.load import load_doc

    return read_document((await load_doc(server.hub.store, doc_id)).doc, "")


async def test_each_format_creates_a_document(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    cases = [
        ("d-docx", sample_docx(), {"Content-Type": DOCX}, {}),
        ("d-md", MARKDOWN, {"Content-Type": "text/markdown; charset=utf-8"}, {}),
        (
            "d-html",
            b"<title>Page</title><h2>Hi</h2><p>a <mark>b</mark></p>",
            {},
            {"format": "html"},
        ),
        ("d-txt", "Un\n\ndeux é".encode(), {}, {"filename": "notes.txt"}),
    ]
    for doc_id, body, headers, params in cases:
        response = await http.post(
            f"/api/documents/{doc_id}/import", content=body, headers=headers, params=params
        )
        assert response.status_code == 201, response.text
        answer = response.json()
        assert answer["id"] == doc_id and answer["mode"] == "create" and answer["version"] >= 1
    listed = (await http.get("/api/documents/d-docx")).json()
    assert listed["title"] == "Novel"
    assert (await http.get("/api/documents/d-html")).json()["title"] == "Page"
    docx_tree = await content(server, http, "d-docx")
    assert docx_tree.blocks[0] == Heading(1, [Text("Chapter One")])
    md_tree = await content(server, http, "d-md")
    assert any(isinstance(b, TaskList) for b in md_tree.blocks)
    assert any(isinstance(b, Table) for b in md_tree.blocks)
    assert plain_text((await content(server, http, "d-txt")).blocks) == "Un\ndeux é"
    # The store has it: a fresh load after the rooms closed reads the same.
    text = (await http.get("/api/documents/d-md/content")).json()
    assert "prosemirror" in text


async def test_open_editors_receive_replace_and_append_live(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    doc_id = "live-doc"
    assert (await http.post("/api/documents", json={"id": doc_id})).status_code == 201
    async with DraftroomClient(server.ws(doc_id)) as editor:
        response = await http.post(
            f"/api/documents/{doc_id}/import",
            params={"mode": "replace", "format": "md"},
            content=b"# Imported\n\nFirst paragraph.",
        )
        assert response.status_code == 200, response.text

        def seen() -> str:
            return plain_text(read_document(editor.doc, "").blocks)

        await eventually(lambda: seen() == "Imported\nFirst paragraph.", what="the import")
        response = await http.post(
            f"/api/documents/{doc_id}/import",
            params={"mode": "append"},
            content=sample_docx(),
            headers={"Content-Type": DOCX},
        )
        assert response.status_code == 200, response.text
        await eventually(
            lambda: seen() == "Imported\nFirst paragraph.\nChapter One\nIt was a dark night.",
            what="the appended import",
        )
        version = response.json()["version"]
    stored = await content(server, http, doc_id)
    assert plain_text(stored.blocks).endswith("It was a dark night.")
    assert (await http.get(f"/api/documents/{doc_id}/content")).json()["version"] >= version


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<" + b"a" * (200 * 1024 * 1024) + b"/>")
    return out.getvalue()


def macro_docx() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(sample_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in source.infolist():
            z.writestr(item, source.read(item))
        z.writestr("word/vbaProject.bin", b"\x00" * 64)
    return out.getvalue()


async def test_bad_files_get_clear_errors_and_change_nothing(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    doc_id = "keep-me"
    created = await http.post(
        f"/api/documents/{doc_id}/import", params={"format": "txt"}, content=b"original"
    )
    assert created.status_code == 201
    version = created.json()["version"]
    cases = [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
            {"format": "docx"},
            415,
            "encrypted_or_legacy",
        ),
        (zip_bomb(), {"format": "docx"}, 413, "zip_bomb"),
        (macro_docx(), {"format": "docx"}, 415, "macros_not_supported"),
        (b"PK\x03\x04 not really a zip", {}, 422, "malformed_file"),
        (b"caf\xe9", {"format": "md"}, 422, "invalid_encoding"),
        (b"x", {"format": "odt"}, 415, "unsupported_format"),
        (b"", {"format": "docx"}, 422, "malformed_file"),
        (b"x" * (3 * 1024 * 1024), {"format": "txt"}, 413, "too_large"),
        (b"x", {"format": "txt", "mode": "upsert"}, 422, "invalid_mode"),
    ]
    for body, params, status, code in cases:
        response = await http.post(
            f"/api/documents/{doc_id}/import", params={"mode": "replace", **params}, content=body
        )
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"] == code, response.text
        assert response.json()["message"]
    # A bad file for a new id creates nothing.
    response = await http.post("/api/documents/new-one/import?format=docx", content=b"junk")
    assert response.status_code == 422
    assert (await http.get("/api/documents/new-one")).status_code == 404
    after = (await http.get(f"/api/documents/{doc_id}/content")).json()
    assert after["version"] == version
    assert plain_text((await content(server, http, doc_id)).blocks) == "original"


async def test_create_rules(server: RunningServer, http: httpx.AsyncClient) -> None:
    ok = await http.post("/api/documents/taken/import?format=txt", content=b"a")
    assert ok.status_code == 201
    again = await http.post("/api/documents/taken/import?format=txt", content=b"b")
    assert again.status_code == 409 and again.json()["error"] == "exists"
    missing = await http.post("/api/documents/nope/import?format=txt&mode=append", content=b"b")
    assert missing.status_code == 404
    bad_id = await http.post("/api/documents/..x/import?format=txt", content=b"b")
    assert bad_id.status_code in (404, 422)


async def test_a_file_over_the_json_body_limit_imports(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    """The import route has its own body limit: a 1.5 MB novel is over the 1 MiB that
    bounds every other route, yet imports."""
    assert server.hub.settings.max_request_bytes < 1_500_000
    text = ("A line of the novel, long enough to count. " * 21 + "\n\n") * 1700
    body = text.encode()
    assert len(body) > 1_500_000
    response = await http.post("/api/documents/big/import?format=txt", content=body)
    assert response.status_code == 201, response.text
    assert response.json()["blocks"] == 1700
    other = await http.post("/api/documents", content=body)
    assert other.status_code == 413


async def test_import_needs_credentials_before_the_file_is_read(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, allow_anonymous=False)
    async with (
        running_server(settings) as running,
        httpx.AsyncClient(base_url=running.http) as http,
    ):
        for mode in ("create", "replace", "append"):
            response = await http.post(
                f"/api/documents/secret/import?mode={mode}&format=txt", content=b"words"
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "unauthenticated"
        assert await running.hub.store.get_document("secret") is None
